"""The dailies run of the demo: trigger it, watch the sensor defer, play the iPad sync, show the files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockit_provider.demo.airflow_components import AirflowComponents
from lockit_provider.sandbox import Sandbox, data

DAG_ID = "lockit_dailies"
SENSOR, MATCH = "wait_for_takes", "match_clips"
SHOOTING_DAY = "2026-05-12"
SYNCED = ["A001_C001_0512AB.R3D", "A001_C002_0512AB.R3D"]  # the sandbox has their takes already
LATE = ["B001_C002_0512CD.R3D", "B001_C003_0512CD.R3D"]  # logged on the iPad, not synced yet
SYNC_DELAY = 5.0  # seconds from the sync starting until the takes are in LockitNetwork
PREVIEW_LINES = 12

Say = Callable[[str], None]


def run_dailies(airflow: AirflowComponents, sandbox: Sandbox, say: Say) -> dict[str, Any]:
    """Trigger the dailies DAG, sync the late takes once its sensor deferred; return match_clips' result."""
    airflow.wait_until(lambda: _parsed(airflow), 120, f"the DAG processor to parse {DAG_ID}")
    conf = {"project": "Northern Lights", "shooting_day": SHOOTING_DAY, "clips": SYNCED + LATE}
    run = airflow.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
    run_id = run["dag_run_id"]
    say(
        f"triggered {DAG_ID} for {len(conf['clips'])} clips of {SHOOTING_DAY}; "
        f"{len(LATE)} have no take in LockitNetwork yet"
    )
    say(f"the run in the UI: {airflow.url}/dags/{DAG_ID}/runs/{run_id}")

    _wait_for_state(airflow, run_id, SENSOR, {"deferred"})
    say(f"{SENSOR} poked once and deferred: the triggerer polls matchClips, no worker slot is held")
    sandbox.add_clips(data.SERIES_ID, data.SERIES_DAY_IDS[0], LATE, after=SYNC_DELAY)
    say(f"the script supervisor's iPad syncs {len(LATE)} takes; LockitNetwork has them in {SYNC_DELAY:g} s")
    _wait_for_state(airflow, run_id, SENSOR, {"success"})
    say(f"the trigger fired: every clip has its take; {SENSOR} succeeded")
    state = airflow.wait_until(lambda: _run_finished(airflow, run_id), 120, f"{DAG_ID} to finish")
    if state != "success":
        raise SystemExit(f"demo: {DAG_ID} ended {state}; see {airflow.home / 'logs'}")
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{MATCH}/xcomEntries/return_value"
    result: dict[str, Any] = airflow.api("GET", path)["value"]
    say(f"{MATCH}: {len(result['matched'])} clips matched, unmatched: {result['unmatched'] or 'none'}")
    return result


def show_files(files: dict[str, str], say: Say) -> None:
    """Print each editorial file's path and first lines."""
    for kind, path in files.items():
        lines = Path(path.removeprefix("file://")).read_text().splitlines()
        say(f"{kind.upper()} for the editor: {path} ({len(lines)} lines)")
        for line in lines[:PREVIEW_LINES] + (["..."] if len(lines) > PREVIEW_LINES else []):
            print(f"    {line}")


def _parsed(airflow: AirflowComponents) -> bool:
    errors = airflow.api("GET", "/api/v2/importErrors")["import_errors"]
    if errors:
        raise SystemExit(f"demo: the DAG processor could not import a DAG file: {errors}")
    dags = airflow.api("GET", "/api/v2/dags", params={"dag_id_pattern": DAG_ID})["dags"]
    return any(dag["dag_id"] == DAG_ID for dag in dags)


def _wait_for_state(airflow: AirflowComponents, run_id: str, task_id: str, wanted: set[str]) -> None:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"

    def reached() -> bool:
        state = airflow.api("GET", path)["state"]
        if state in {"failed", "upstream_failed", "skipped"} and state not in wanted:
            raise SystemExit(f"demo: {task_id} ended {state}; see {airflow.home / 'logs'}")
        return state in wanted

    airflow.wait_until(reached, 150, f"{task_id} to be {' or '.join(sorted(wanted))}")


def _run_finished(airflow: AirflowComponents, run_id: str) -> str | None:
    state = airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
    return state if state in {"success", "failed"} else None
