"""Measure ``airflow --help`` start-up with this provider installed vs hidden, side by side.

Run: ``.venv/bin/python bench/cli_startup.py [--runs 10] [--command --help]``

Method: both variants run the same interpreter, venv, AIRFLOW_HOME and command, with the same
``sitecustomize`` on PYTHONPATH. In the "hidden" variant (``LOCKIT_BENCH_HIDE=1``) it filters the
``airflow-provider-lockit`` distribution out of ``importlib[_]metadata.distributions()``, which is where
Airflow's provider discovery reads ``apache_airflow_provider`` entry points from; so Airflow never
sees the provider and never imports ``lockit_provider`` or its CLI definition, exactly as if it were
uninstalled, while everything else (disk cache, other providers) stays identical. Runs are
interleaved and alternate which variant goes first, so load from other processes on the shared
cores hits both alike; medians are compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISTRIBUTION = "airflow_provider_lockit"  # normalized: what a .dist-info / .egg-info name says
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))

# Airflow reads entry points through importlib_metadata on Python < 3.12, importlib.metadata after:
# filter both. Both variants import the same modules; only the hidden one installs the filter.
SITECUSTOMIZE = f"""
import importlib
import os

def _hide(module):
    distributions = module.distributions

    # _normalized_name comes from the directory name; reading dist.metadata would parse every
    # METADATA file and make the hidden variant slower than the real thing.
    def without_lockit(**kwargs):
        return (
            dist for dist in distributions(**kwargs)
            if getattr(dist, "_normalized_name", None) != "{DISTRIBUTION}"
        )

    module.distributions = without_lockit

for _name in ("importlib.metadata", "importlib_metadata"):
    try:
        _module = importlib.import_module(_name)
    except ImportError:
        continue
    if os.environ.get("LOCKIT_BENCH_HIDE") == "1":
        _hide(_module)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(env: dict[str, str], command: list[str]) -> tuple[float, float, str]:
    """Return the wall time and CPU time (user + system) of one CLI run, and its stdout."""
    cpu_before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [AIRFLOW_BIN, *command], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    # Runs are sequential: the growth of the reaped children's CPU time is this run's.
    return time.perf_counter() - start, _children_cpu() - cpu_before, done.stdout


def _report(label: str, samples: dict[str, list[float]]) -> None:
    print(f"  {label}")
    for name, seconds in samples.items():
        ms = sorted(s * 1000 for s in seconds)
        median = statistics.median(ms)
        print(f"    {name:<17} median {median:7.1f} ms   min {ms[0]:7.1f} ms   max {ms[-1]:7.1f} ms")
    with_, without = samples["with provider"], samples["without provider"]
    ratio = statistics.median(with_) / statistics.median(without)
    # Each round ran both variants back to back: their ratio cancels slow changes in machine load.
    paired = statistics.median(a / b for a, b in zip(with_, without, strict=True))
    print(
        f"    ratio with/without: medians {ratio:.3f} ({(ratio - 1) * 100:+.1f} %), "
        f"median of paired ratios {paired:.3f}, minima {min(with_) / min(without):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured runs per variant (default 10)")
    parser.add_argument("--command", nargs="+", default=["--help"], help="airflow arguments")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lockit-bench-") as tmp:
        Path(tmp, "sitecustomize.py").write_text(SITECUSTOMIZE)
        home = Path(tmp, "airflow_home")
        home.mkdir()
        base = {**os.environ, "PYTHONPATH": tmp, "AIRFLOW_HOME": str(home)}
        variants = {
            "with provider": {**base, "LOCKIT_BENCH_HIDE": "0"},
            "without provider": {**base, "LOCKIT_BENCH_HIDE": "1"},
        }
        # Warm-up (writes airflow.cfg, fills the page cache) and a check that hiding works.
        for name, env in variants.items():
            *_, out = run_once(env, args.command)
            if args.command == ["--help"] and ("lockit" in out) != (name == "with provider"):
                raise SystemExit(f"{name}: the lockit command group is unexpectedly (not) listed")
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for index in range(args.runs):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in order:
                elapsed, used, _ = run_once(variants[name], args.command)
                wall[name].append(elapsed)
                cpu[name].append(used)

    print(f"airflow {' '.join(args.command)}: {args.runs} interleaved runs per variant")
    _report("wall time (what a person waits; noisy when other processes share the cores)", wall)
    _report("CPU time, user + system (the work start-up does; robust to contention)", cpu)


if __name__ == "__main__":
    main()
