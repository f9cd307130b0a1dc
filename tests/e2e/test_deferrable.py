"""Deferral under a real scheduler and triggerer: failures, timeouts, soft_fail, reschedule, retries.

One DAG of independent tasks, each a case Airflow users rely on; one run, then each task's state and
logs are checked.
"""

from __future__ import annotations

import textwrap

import pytest

from lockit_provider.sandbox import data
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import AirflowStack, deferrals, task_logs

pytestmark = pytest.mark.e2e

DAG_ID = "lockit_deferral_cases"
LATE_CLIP = "R001_C001_0512RS.R3D"
RATE_LIMITED = f"/projects/{data.FILM_ID}/episodes"

DAG_FILE = textwrap.dedent(
    f'''
    """Deferral cases for tests/e2e/test_deferrable.py."""
    from datetime import timedelta

    from airflow.sdk import dag

    from lockit_provider.operators.lockit import LockitOperator
    from lockit_provider.sensors.lockit import LockitClipsMatchedSensor, LockitSensor

    CLIPS = dict(project="Northern Lights", shooting_day="2026-05-12")
    NEVER = dict(clips=["NEVER_C001.R3D"], timeout=10, poke_interval=5, **CLIPS)
    RETRIES = dict(retries=3, retry_delay=timedelta(minutes=5))
    NO_PROJECT = dict(project="No Such Project", shooting_day="2026-05-12", clips=["A.R3D"], **RETRIES)


    @dag(schedule=None, catchup=False)
    def {DAG_ID}():
        # Errors retrying cannot fix fail at once, whatever retries says (a 403, an unknown project).
        LockitOperator(
            task_id="forbidden_call", endpoint="/projects/{data.NON_PREMIUM_ID}/projectdays", **RETRIES
        )
        LockitClipsMatchedSensor(task_id="unknown_project", **NO_PROJECT)
        LockitClipsMatchedSensor(task_id="unknown_project_soft", soft_fail=True, **NO_PROJECT)
        LockitOperator(task_id="rate_limited_call", endpoint="{RATE_LIMITED}")
        LockitClipsMatchedSensor(task_id="never_synced", **NEVER)
        LockitClipsMatchedSensor(task_id="never_synced_soft", soft_fail=True, **NEVER)
        # A reschedule shorter than the scheduler's round trip races in Airflow itself ("finished with
        # state success, but the task instance's state attribute is queued"): 15 s keeps clear of it.
        LockitClipsMatchedSensor(
            task_id="rescheduled", clips=["{LATE_CLIP}"], deferrable=False, mode="reschedule", timeout=600,
            poke_interval=15, **CLIPS,
        )
        LockitSensor(
            task_id="dag_file_check", endpoint="/projects", response_check=lambda body: len(body) == 3
        )


    {DAG_ID}()
    '''
)


@pytest.fixture(scope="module")
def finished(airflow_stack: AirflowStack, sandbox_process: SandboxProcess) -> AirflowStack:
    """Run the DAG once (it fails: some cases must) in the session's Airflow and hand it over to inspect."""
    stack = airflow_stack
    stack.add_dags({f"{DAG_ID}.py": DAG_FILE})
    fault = {"target": "api", "status": 429, "headers": {"Retry-After": "2"}, "path": RATE_LIMITED}
    sandbox_process.control("POST", "faults", json=fault)
    run_id = stack.trigger_dag(DAG_ID)
    # The late clip is synced only once the sensor has poked and been rescheduled: an event, not a time
    # (a task that starts late on a busy machine would otherwise find the clip at its first poke).
    stack.wait_until(
        lambda: "Rescheduling task" in task_logs(stack, "rescheduled"), 600, "the sensor's first reschedule"
    )
    payload = {"project": data.SERIES_ID, "day": data.SERIES_DAY_IDS[0], "clips": [LATE_CLIP], "after": 0}
    sandbox_process.control("POST", "clips", json=payload)
    assert stack.wait_for_run(DAG_ID, run_id) == "failed"
    return stack


@pytest.fixture(scope="module")
def states(finished: AirflowStack) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in finished.task_instances(DAG_ID, finished.last_run_id)}


def test_an_api_error_in_the_trigger_fails_the_task_clearly(
    finished: AirflowStack, states: dict[str, str]
) -> None:
    assert states["forbidden_call"] == "failed"
    assert deferrals(finished, "forbidden_call") == 1
    log = task_logs(finished, "forbidden_call")
    assert "LockitApiError" in log
    assert "The trigger failed: LockitNetwork API GET" in log
    assert "failed with HTTP 403" in log


def test_errors_retrying_cannot_fix_fail_at_once_despite_retries(
    finished: AirflowStack, states: dict[str, str]
) -> None:
    tries = {ti["task_id"]: ti["try_number"] for ti in finished.task_instances(DAG_ID, finished.last_run_id)}
    assert (states["forbidden_call"], tries["forbidden_call"]) == ("failed", 1)
    assert (states["unknown_project"], tries["unknown_project"]) == ("failed", 1)
    assert states["unknown_project_soft"] == "skipped"
    log = task_logs(finished, "unknown_project")
    assert "AirflowFailException" in log
    assert "LockitConfigError: Project 'No Such Project' is not a project you can see" in log


def test_the_trigger_honours_retry_after(finished: AirflowStack, states: dict[str, str]) -> None:
    assert states["rate_limited_call"] == "success"
    assert f"GET {RATE_LIMITED}: HTTP 429; retry 1 of 4 in 2." in task_logs(
        finished, "rate_limited_call", "*.trigger.*"
    )


def test_a_deferred_sensor_times_out(finished: AirflowStack, states: dict[str, str]) -> None:
    assert states["never_synced"] == "failed"
    assert deferrals(finished, "never_synced") == 1
    assert "AirflowSensorTimeout" in task_logs(finished, "never_synced")


def test_soft_fail_skips_a_deferred_sensor_that_timed_out(
    finished: AirflowStack, states: dict[str, str]
) -> None:
    assert states["never_synced_soft"] == "skipped"
    assert deferrals(finished, "never_synced_soft") == 1


def test_reschedule_mode_without_deferral(finished: AirflowStack, states: dict[str, str]) -> None:
    assert states["rescheduled"] == "success"
    assert deferrals(finished, "rescheduled") == 0
    assert task_logs(finished, "rescheduled").count("Rescheduling task") >= 1


def test_a_check_from_the_dag_file_pokes_from_the_worker(
    finished: AirflowStack, states: dict[str, str]
) -> None:
    assert states["dag_file_check"] == "success"
    assert deferrals(finished, "dag_file_check") == 0


def test_the_real_triggerer_froze_its_start_up_heap(finished: AirflowStack) -> None:
    # The provider knows Airflow's trigger runner (by its watchdog) and freezes its heap there once, so
    # full garbage collections no longer hold the runner's loop (lockit_provider/triggers/heap.py).
    assert "start-up objects out of the garbage collector's full passes" in finished.all_logs()
