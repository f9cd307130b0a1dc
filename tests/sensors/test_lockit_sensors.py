"""The sensors: poke, reschedule and deferral, timeout and soft_fail, against the sandbox."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from lockit_provider.exceptions import LockitApiError
from lockit_provider.sandbox import data
from lockit_provider.sensors.lockit import LockitClipsMatchedSensor, LockitSensor
from lockit_provider.triggers.checks import check_path, non_empty
from lockit_provider.triggers.lockit import LockitClipsMatchedTrigger, LockitSensorTrigger
from tests.support.connections import use_sandbox
from tests.support.counts import api_count, issued_tokens

DAY_1 = data.SERIES_DAY_IDS[0]
SEEDED = "A001_C001_0512AB.R3D"
LATE = "C009_C001_LATE.R3D"
TARGET = {"project_id": data.SERIES_ID, "day_id": DAY_1, "clips": [SEEDED, LATE]}


@pytest.fixture(autouse=True)
def _sandbox_connection(monkeypatch, sandbox, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, max_retries=0)


def context() -> dict[str, Any]:
    ti = SimpleNamespace(get_first_reschedule_date=lambda context: None)
    return {"ti": ti, "params": {}}


def clips_sensor(**kwargs: Any) -> LockitClipsMatchedSensor:
    defaults: dict[str, Any] = {
        "project": "Northern Lights",
        "shooting_day": "2026-05-12",
        "clips": [SEEDED, LATE],
        "poke_interval": 0.1,
        "timeout": 10,
        "deferrable": False,
    }
    return LockitClipsMatchedSensor(task_id="wait", **{**defaults, **kwargs})


def resume(sensor, event=None, *, timed_out: bool = False):
    """Resume the sensor as the task runner does after its trigger fired (or timed out)."""
    if timed_out:
        next_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
        return sensor.resume_execution(TRIGGER_FAIL_REPR, next_kwargs, context())
    return sensor.resume_execution("execute_complete", {"event": event}, context())


def test_poke_mode_waits_until_every_clip_has_a_take(sandbox):
    sandbox.add_clips(data.SERIES_ID, DAY_1, [LATE], after=0.5)
    assert clips_sensor().execute(context()) == TARGET


@pytest.mark.parametrize(
    ("soft_fail", "raised"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_poke_mode_timeout_and_soft_fail(soft_fail, raised):
    with pytest.raises(raised):
        clips_sensor(timeout=0.3, soft_fail=soft_fail).execute(context())


def test_reschedule_mode_frees_the_worker_between_pokes():
    with pytest.raises(AirflowRescheduleException):
        clips_sensor(mode="reschedule", poke_interval=30).execute(context())


def test_deferrable_sensor_that_is_done_at_once_does_not_defer():
    sensor = clips_sensor(clips=[SEEDED], deferrable=True)
    assert sensor.execute(context()) == {"project_id": data.SERIES_ID, "day_id": DAY_1, "clips": [SEEDED]}


def test_deferrable_sensor_pokes_once_then_defers_and_the_trigger_polls(sandbox):
    sensor = clips_sensor(deferrable=True, poke_interval=0.2, timeout=600, mode="reschedule")
    started = time.monotonic()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context())
    poked_for = time.monotonic() - started
    deferred = info.value
    assert isinstance(deferred.trigger, LockitClipsMatchedTrigger)
    # The deferral gets the time the first poke left, however long that poke took on a busy machine.
    assert timedelta(seconds=600 - poked_for) <= deferred.timeout <= timedelta(seconds=600)
    kwargs = deferred.trigger.serialize()[1]
    assert {k: kwargs[k] for k in TARGET} == TARGET  # resolved once, before deferring
    assert not any(token in json.dumps(kwargs) for token in issued_tokens(sandbox))

    sandbox.add_clips(data.SERIES_ID, DAY_1, [LATE], after=0.5)

    async def first_event():
        async for event in deferred.trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert resume(sensor, event) == TARGET


def test_error_event_fails_clearly_or_skips_with_soft_fail():
    event = {
        "status": "error",
        "error_type": "LockitApiError",
        "message": "HTTP 404: no day",
        "http_status": 404,
    }
    # A 404 cannot be fixed by retrying: the task fails at once, the provider error as the cause.
    with pytest.raises(
        AirflowFailException, match="LockitApiError: The trigger failed: HTTP 404: no day"
    ) as info:
        resume(clips_sensor(deferrable=True), event)
    assert isinstance(info.value.__cause__, LockitApiError) and info.value.__cause__.status == 404
    with pytest.raises(AirflowSkipException):
        resume(clips_sensor(deferrable=True, soft_fail=True), event)


@pytest.mark.parametrize(
    ("soft_fail", "raised"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_deferral_timeout_is_a_sensor_timeout(soft_fail, raised):
    with pytest.raises(raised):
        resume(clips_sensor(deferrable=True, soft_fail=soft_fail), timed_out=True)


def test_transient_failures_are_not_yet_and_other_errors_fail_at_once(sandbox):
    sensor = clips_sensor()
    sandbox.add_fault("api", status=503)
    assert sensor.poke(context()) is False
    sandbox.add_fault("api", status=403)
    with pytest.raises(AirflowFailException) as info:
        sensor.poke(context())
    assert isinstance(info.value.__cause__, LockitApiError) and info.value.__cause__.status == 403


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_configuration_error_fails_the_sensor_at_once_or_skips_it_with_soft_fail(deferrable):
    with pytest.raises(AirflowFailException, match="LockitConfigError: Shooting day '2031-01-01'"):
        clips_sensor(shooting_day="2031-01-01", deferrable=deferrable).execute(context())
    with pytest.raises(AirflowSkipException):
        clips_sensor(shooting_day="2031-01-01", deferrable=deferrable, soft_fail=True).execute(context())


def test_a_dead_grant_fails_the_sensor_at_once(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1, refresh_token="")
    with pytest.raises(AirflowFailException, match="airflow lockit authorize"):
        clips_sensor().execute(context())


def test_a_transient_error_event_is_raised_as_it_is_so_retries_apply():
    event = {"status": "error", "error_type": "LockitApiError", "message": "HTTP 503", "http_status": 503}
    with pytest.raises(LockitApiError):
        resume(clips_sensor(deferrable=True), event)


def test_waiting_is_logged_at_info_only_when_it_changes(sandbox, capsys):
    sensor = clips_sensor()
    for _ in range(3):
        assert sensor.poke(context()) is False
    sandbox.add_clips(data.SERIES_ID, DAY_1, [LATE], after=0)
    assert sensor.poke(context())
    logged = capsys.readouterr().out  # the task log at its default level, INFO
    assert logged.count("1 of 2 clips have take metadata; waiting for C009_C001_LATE.R3D") == 1
    assert "LockitNetwork POST" not in logged  # the hook's per-call line is at DEBUG while polling


def test_lockit_sensor_waits_through_pending_statuses(sandbox):
    sensor = LockitSensor(task_id="s", endpoint="/projects", pending_statuses=[404], deferrable=False)
    sandbox.add_fault("api", status=404)
    assert not sensor.poke(context())
    assert sensor.poke(context())
    sandbox.add_fault("api", status=400)
    with pytest.raises(AirflowFailException, match="HTTP 400"):
        sensor.poke(context())


def test_lockit_sensor_check_may_return_a_value_for_xcom():
    def newest(body, params):
        return PokeReturnValue(True, max(p["created"] for p in body))

    sensor = LockitSensor(
        task_id="s", endpoint="/projects", response_check=newest, deferrable=False, timeout=1
    )
    assert sensor.execute(context()) == 1772323200


def test_lockit_sensor_defers_with_an_importable_check():
    sensor = LockitSensor(
        task_id="s", endpoint=f"/projects/{data.FILM_ID}/episodes", response_check=non_empty
    )
    sensor.deferrable = True
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context())
    assert isinstance(info.value.trigger, LockitSensorTrigger)
    assert info.value.trigger.serialize()[1]["check"] == "lockit_provider.triggers.checks.non_empty"


def test_lockit_sensor_with_a_dag_file_check_pokes_from_the_worker(capsys):
    sensor = LockitSensor(
        task_id="s",
        endpoint="/projects",
        response_check=lambda body: len(body) == 3,
        deferrable=True,
        timeout=5,
    )
    assert sensor.execute(context()) is None  # done, without TaskDeferred
    sensor = LockitSensor(
        task_id="t", endpoint="/projects", response_check=lambda body: False, deferrable=True, timeout=0.3
    )
    sensor.poke_interval = 0.1
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(context())
    assert "cannot be imported by the triggerer" in capsys.readouterr().out


def dag_file_check(body: Any) -> bool:
    return True


def test_check_path_tells_which_checks_can_travel_to_the_triggerer():
    assert check_path(non_empty) == "lockit_provider.triggers.checks.non_empty"
    assert check_path("my_company.checks.ready") == "my_company.checks.ready"
    assert check_path(lambda body: True) is None
    assert check_path(dag_file_check) == "tests.sensors.test_lockit_sensors.dag_file_check"
    dag_file_check.__module__ = "unusual_prefix_0123abcd_dailies"
    try:
        assert check_path(dag_file_check) is None
    finally:
        dag_file_check.__module__ = __name__


def test_sensor_construction_makes_no_call(sandbox):
    clips_sensor(deferrable=True)
    LockitSensor(task_id="s", endpoint="/projects")
    assert api_count(sandbox, "200") == 0
