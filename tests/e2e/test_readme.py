"""The README is true: its DAG block, taken literally, succeeds against the sandbox under a real Airflow.

The connection is made as the README says, with ``airflow lockit authorize`` (paste mode, the test
playing the browser), so the tasks and the triggerer read it from the metadata DB. The output
directory comes from the Airflow Variable the README names.
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import BIN_DIR, AirflowStack

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET_ENV = "LOCKIT_README_SECRET"


def readme_dag_block() -> str:
    """Return the README's Python code block that defines a DAG, exactly as written."""
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)
    dags = [block for block in blocks if "@dag" in block]
    assert len(dags) == 1, f"expected one DAG block in the README, found {len(dags)}"
    return dags[0]


def readme_dag_id(block: str) -> str:
    match = re.search(r"^@dag\(.*?\)\ndef (\w+)\(", block, flags=re.S | re.M)
    assert match, "the README's DAG block has no @dag-decorated function"
    return match.group(1)


@pytest.fixture(scope="module")
def readme_sandbox() -> Iterator[SandboxProcess]:
    """The sandbox as the README's quickstart starts it: auto-approving, default client."""
    with SandboxProcess("--auto-approve") as process:
        yield process


def authorize_as_the_readme_says(stack: AirflowStack, sandbox: SandboxProcess) -> None:
    """Run ``airflow lockit authorize`` with the README's options, in paste mode, playing the browser."""
    env = {**stack.env, SECRET_ENV: "lockit-secret"}
    command = [
        str(BIN_DIR / "airflow"),
        "lockit",
        "authorize",
        "--conn-id",
        "lockit_default",
        "--client-id",
        "lockit-client",
        "--client-secret-env",
        SECRET_ENV,
        "--api-url",
        sandbox.url,
        "--paste",
        "--no-browser",
    ]
    opened = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, check=False
    )
    url = next((line for line in opened.stdout.splitlines() if line.startswith("http")), None)
    assert url, f"no authorization URL:\n{opened.stdout}\n{opened.stderr}"
    consent = requests.get(url, allow_redirects=False, timeout=30)
    assert consent.status_code == 302, consent.text
    location = consent.headers["Location"]
    done = stack.airflow("lockit", "authorize", "--conn-id", "lockit_default", "--redirect-url", location)
    assert "Authorized connection 'lockit_default'" in done.stdout


@pytest.mark.e2e
def test_the_readme_dag_succeeds_against_the_sandbox(tmp_path: Path, readme_sandbox: SandboxProcess) -> None:
    block = readme_dag_block()
    dag_id = readme_dag_id(block)
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "readme_dailies.py").write_text(block)
    output = tmp_path / "dailies"
    env = {
        "AIRFLOW_VAR_LOCKIT_DAILIES_DIR": str(output),  # the Variable the README names
    }

    with AirflowStack(home, dags, env) as stack:
        authorize_as_the_readme_says(stack, readme_sandbox)
        state = stack.run_dag(dag_id, timeout=600)
        assert state == "success", stack.all_logs()[-6000:]

    csv_files = sorted(output.glob("*.csv"))
    ale_files = sorted(output.glob("*.ale"))
    assert [path.name for path in csv_files] == ["2026-05-13_dailies.csv"]
    assert [path.name for path in ale_files] == ["2026-05-13_dailies.ale"]
    rows = list(csv.DictReader(csv_files[0].read_text().splitlines()))
    assert [row["Clip Name"] for row in rows] == ["A002_C004_0513AB.R3D", "B002_C011_0513CD.R3D"]
    assert "B002_C011_0513CD" in ale_files[0].read_text()
    issued = readme_sandbox.stats()["issued_tokens"]
    logs = stack.all_logs()
    assert [token[:6] for token in issued if token in logs] == []
