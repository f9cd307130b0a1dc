"""Every example DAG parses cleanly and succeeds under a real scheduler, executor and triggerer.

Deferrable is on for every operator (``[operators] default_deferrable``), the connection comes from
an ``AIRFLOW_CONN_*`` variable, and the sandbox runs as its own process with rotating refresh tokens.
"""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Any

import pytest

import lockit_provider.example_dags
from lockit_provider.sandbox import data
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import AirflowStack, deferrals, task_logs

EXAMPLE_DAGS = Path(lockit_provider.example_dags.__file__).parent
DAY_1 = data.SERIES_DAY_IDS[0]
LATE_CLIPS = ["C007_C001_0512XY.R3D", "C007_C002_0512XY.R3D"]


def example_dag_files() -> dict[str, str]:
    """Return the example DAGs as a user copies them into a dags folder."""
    return {path.name: path.read_text() for path in sorted(EXAMPLE_DAGS.glob("lockit_*.py"))}


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> AirflowStack:
    """Return the session's Airflow (deferral on) with the example DAGs added."""
    airflow_stack.add_dags(example_dag_files())
    return airflow_stack


def xcoms(stack: AirflowStack, dag_id: str, task_id: str) -> list[Any]:
    """Return the return values of a task (one per map index) in the stack's last run."""
    run_id = stack.last_run_id
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    tis = [ti for ti in stack.task_instances(dag_id, run_id) if ti["task_id"] == task_id]
    return [stack.api("GET", path, params={"map_index": ti["map_index"]})["value"] for ti in tis]


def test_example_dags_import_cleanly_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a DAG file touched the network at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    bag = DagBag(EXAMPLE_DAGS)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["lockit_dailies", "lockit_projects", "lockit_token_keeper"]


def test_the_token_keeper_fails_at_once_on_an_error_retrying_cannot_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    connection = {"conn_type": "lockit", "host": "api.example.com", "login": "c", "password": "secret"}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKIT_DEFAULT", json.dumps(connection))
    task = DagBag(EXAMPLE_DAGS).dags["lockit_token_keeper"].get_task("refresh_early")
    assert task.retries == 3  # for outages; a bad host is not one
    with pytest.raises(AirflowFailException, match=r"LockitConfigError: .*without a scheme"):
        task.python_callable(params={"refresh_within_hours": 1})


@pytest.mark.e2e
def test_projects_and_shooting_days(stack: AirflowStack) -> None:
    assert stack.run_dag("lockit_projects") == "success"

    assert xcoms(stack, "lockit_projects", "list_projects") == [[data.SERIES_ID, data.FILM_ID]]
    days = xcoms(stack, "lockit_projects", "list_shooting_days")
    assert sorted(len(d) for d in days) == [2, 3]
    assert {"id": DAY_1, "day": 1, "date": "2026-05-12", "unit": "Main Unit"} in days[0] + days[1]
    assert deferrals(stack, "list_projects") == 1  # the call itself was made by the triggerer


@pytest.mark.e2e
def test_token_keeper_refreshes_early_and_later_tasks_use_the_rotated_token(
    stack: AirflowStack, sandbox_process: SandboxProcess
) -> None:
    assert stack.run_dag("lockit_token_keeper", conf={"refresh_within_hours": 10_000}) == "success"

    (summary,) = xcoms(stack, "lockit_token_keeper", "refresh_early")
    assert summary["refreshed"] is True
    assert summary["generation"] == 1
    assert sandbox_process.stats()["token_requests"]["refresh_token"] == 1


@pytest.mark.e2e
def test_dailies_wait_in_the_triggerer_until_the_takes_are_synced(
    stack: AirflowStack, sandbox_process: SandboxProcess, tmp_path: Path
) -> None:
    clips = ["A001_C001_0512AB.R3D", "A001_C002_0512AB.R3D", *LATE_CLIPS]
    conf = {"clips": clips, "output_dir": str(tmp_path)}
    waiting = "2 of 4 clips have take metadata; waiting for C007_C001_0512XY.R3D"

    run_id = stack.trigger_dag("lockit_dailies", conf=conf)
    # The takes are synced only once the trigger has polled and found them missing.
    stack.wait_until(
        lambda: waiting in task_logs(stack, "wait_for_takes", "*.trigger.*"), 300, "the trigger's first poll"
    )
    sandbox_process.control(
        "POST", "clips", json={"project": data.SERIES_ID, "day": DAY_1, "clips": LATE_CLIPS, "after": 0}
    )
    assert stack.wait_for_run("lockit_dailies", run_id) == "success"

    assert deferrals(stack, "wait_for_takes") == 1
    polled = task_logs(stack, "wait_for_takes", "*.trigger.*")
    assert "Trigger fired event" in polled
    (result,) = xcoms(stack, "lockit_dailies", "match_clips")
    assert [m["clip"] for m in result["matched"]] == clips
    assert result["unmatched"] == []
    rows = list(csv.DictReader((tmp_path / "2026-05-12_dailies.csv").read_text().splitlines()))
    assert [row["Clip Name"] for row in rows] == clips
    assert rows[1]["Circled"] == "Yes"
    ale = (tmp_path / "2026-05-12_dailies.ale").read_text().splitlines()
    assert ale[:2] == ["Heading", "FIELD_DELIM\tTABS"]
    assert [line.split("\t")[0] for line in ale[ale.index("Data") + 1 :]] == [c[:-4] for c in clips]
    assert result["files"] == {
        "csv": f"{tmp_path}/2026-05-12_dailies.csv",
        "ale": f"{tmp_path}/2026-05-12_dailies.ale",
    }


@pytest.mark.e2e
def test_no_token_reached_any_log_or_xcom(stack: AirflowStack, sandbox_process: SandboxProcess) -> None:
    texts = [stack.all_logs()]
    for dag_id in ("lockit_projects", "lockit_token_keeper", "lockit_dailies"):
        runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        texts += [value for run in runs for value in stack.xcom_values(dag_id, run["dag_run_id"])]
    issued = sandbox_process.stats()["issued_tokens"]
    assert len(issued) >= 4
    leaks = [token[:6] for token in issued for text in texts if token in text]
    assert leaks == []
