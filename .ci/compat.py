"""Compatibility both ways: the unit tier and one real-scheduler e2e test on the lowest and newest Airflow.

``make test-compat`` runs this. Each Airflow gets its own venv under ``.venv-compat/`` with the
package installed editable (``.[test,services]``, as ``make setup`` does), reused while it is
current: the same ``pyproject.toml``, the same pins and, for "newest", the same newest release on
the package index.

- lowest: the lowest release that ``apache-airflow`` in ``pyproject.toml`` admits (for ``>=3.2``:
  3.2.0). Airflow publishes each release's constraints file only on GitHub, which this CI cannot
  reach, so ``.ci/compat-pins-lowest.txt`` pins what that release needs instead (each line says why).
- newest: the newest ``apache-airflow`` release, with the newest of everything else.

Prints one timing line per step and a summary; exits non-zero when any step fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venv-compat"
PINS_LOWEST = ROOT / ".ci" / "compat-pins-lowest.txt"
PYTHON = os.environ.get("PYTHON") or sys.executable
# The unit tier: everything `make test` runs except the real-scheduler tests; then one of those.
UNIT_TIER = ["-m", "not services and not distributed and not e2e", "--ignore=tests/distributed", "tests"]
E2E_TEST = ["-m", "e2e", "tests/e2e/test_readme.py"]
# As `make setup` installs it: the services extra brings the drivers some test modules import.
EXTRAS = "test,services"


def main() -> int:
    """Set up both venvs, run the tiers in each, print a summary; return the exit code."""
    versions = published_versions()
    lowest = lowest_admitted(versions)
    newest = max(versions)
    results: list[tuple[str, str, float, int]] = []
    for label, version, pins in (
        ("lowest", lowest, PINS_LOWEST.read_text() if PINS_LOWEST.exists() else ""),
        ("newest", newest, ""),
    ):
        venv = VENVS / label
        started = time.monotonic()
        setup(venv, version, pins)
        results.append((label, f"setup (apache-airflow=={version})", time.monotonic() - started, 0))
        for step, args in (("unit tier", UNIT_TIER), ("e2e", E2E_TEST)):
            started = time.monotonic()
            code = pytest(venv, args)
            results.append((label, f"{step} on {version}", time.monotonic() - started, code))
    print("\n== compatibility summary")
    for label, step, seconds, code in results:
        print(f"{label:7} {step:38} {seconds:7.1f} s  {'ok' if code == 0 else f'FAILED ({code})'}")
    return 1 if any(code for *_, code in results) else 0


def published_versions() -> list[Version]:
    """Return the final releases of apache-airflow on the package index (one look-up)."""
    out = run([PYTHON, "-m", "pip", "index", "versions", "apache-airflow"], capture=True)
    listed = re.search(r"Available versions: (.*)", out)
    if listed is None:
        raise SystemExit(f"pip index versions apache-airflow printed no versions:\n{out}")
    versions = []
    for text in listed.group(1).split(","):
        try:
            versions.append(Version(text.strip()))
        except InvalidVersion:  # old non-PEP 440 uploads such as 1.10.9-bin
            continue
    return [version for version in versions if not version.is_prerelease and not version.is_devrelease]


def lowest_admitted(versions: list[Version]) -> Version:
    """Return the lowest published Airflow that the package's own requirement admits."""
    text = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r'^\s*"(apache-airflow[<>=!~][^"]*)"', text, flags=re.M)
    if declared is None:
        raise SystemExit("pyproject.toml declares no apache-airflow requirement")
    requirement = Requirement(declared.group(1))
    return min(version for version in versions if requirement.specifier.contains(version))


def setup(venv: Path, version: Version, pins: str) -> None:
    """Create or reuse ``venv`` with ``apache-airflow==version``, the pins and the package (editable)."""
    key = json.dumps(
        {
            "airflow": str(version),
            "extras": EXTRAS,
            "pins": pins,
            "pyproject": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest(),
            "python": PYTHON,
        },
        sort_keys=True,
    )
    stamp = venv / ".compat-installed"
    if stamp.exists() and stamp.read_text() == key and (venv / "bin" / "airflow").exists():
        print(f"== {venv.name}: reusing {venv} (apache-airflow=={version})", flush=True)
        return
    print(f"== {venv.name}: installing apache-airflow=={version} into {venv}", flush=True)
    if venv.exists():
        run(["rm", "-rf", str(venv)])
    run([PYTHON, "-m", "venv", str(venv)])
    pin_file = venv / "pins.txt"
    pin_file.write_text(pins)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, f"apache-airflow=={version}", "-e", f"{ROOT}[{EXTRAS}]", "-c", str(pin_file)])
    installed = run([str(venv / "bin" / "airflow"), "version"], capture=True, env=quiet_airflow(venv)).strip()
    if installed.splitlines()[-1] != str(version):
        raise SystemExit(f"{venv}: expected apache-airflow {version}, `airflow version` says {installed!r}")
    stamp.write_text(key)


def pytest(venv: Path, args: list[str]) -> int:
    """Run pytest from ``venv`` in the repository; return its exit code."""
    print(f"== {venv.name}: pytest {' '.join(args)}", flush=True)
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def quiet_airflow(venv: Path) -> dict[str, str]:
    """Return an environment in which ``airflow version`` touches no real AIRFLOW_HOME."""
    home = venv / "airflow-home"
    return {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}


def run(command: list[str], *, capture: bool = False, env: dict[str, str] | None = None) -> str:
    """Run a command; fail loudly with its output when it fails."""
    done = subprocess.run(command, cwd=ROOT, capture_output=capture, text=True, env=env, check=False)
    if done.returncode != 0:
        output = f"\n{done.stdout}\n{done.stderr}" if capture else ""
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(command)}{output}")
    return done.stdout if capture else ""


if __name__ == "__main__":
    sys.exit(main())
