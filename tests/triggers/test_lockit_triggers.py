"""The triggers, run on an event loop against the sandbox, and their events turned back into results."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from lockit_provider.exceptions import LockitApiError, LockitError, LockitReauthorizationRequired
from lockit_provider.sandbox import data
from lockit_provider.triggers.events import event_payload
from lockit_provider.triggers.lockit import (
    LockitClipsMatchedTrigger,
    LockitRequestTrigger,
    LockitSensorTrigger,
    LockitTrigger,
)
from tests.support.connections import use_sandbox
from tests.support.counts import api_count, issued_tokens

DAY_1 = data.SERIES_DAY_IDS[0]


@pytest.fixture(autouse=True)
def _sandbox_connection(monkeypatch, sandbox, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, max_retries=1)


def first_event(trigger: LockitTrigger, timeout: float = 120) -> dict[str, Any]:
    """Run the trigger until its first event, as the triggerer would, and return the payload.

    The timeout only keeps a broken trigger from hanging the suite.
    """
    return asyncio.run(asyncio.wait_for(next_event(trigger), timeout))


async def next_event(trigger: LockitTrigger) -> dict[str, Any]:
    """Return the payload of the trigger's first event."""
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


async def until(condition: Callable[[], bool], *, timeout: float = 120) -> None:
    """Wait (on the loop) until ``condition()`` holds; the timeout only keeps a broken test from hanging."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def rebuilt(trigger: LockitTrigger) -> LockitTrigger:
    """Serialize the trigger to JSON and build it again from its classpath, as Airflow does."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


def request_trigger(**kwargs: Any) -> LockitRequestTrigger:
    return LockitRequestTrigger(
        lockit_conn_id="lockit_default", method="GET", endpoint="/projects", max_bytes=10**6, **kwargs
    )


def test_triggers_serialize_to_json_without_tokens(sandbox):
    triggers = [
        request_trigger(query={"a": 1}, headers={"X-Trace": "t"}),
        LockitSensorTrigger(lockit_conn_id="c", endpoint="/projects", poke_interval=5, check="m.f"),
        LockitClipsMatchedTrigger(
            lockit_conn_id="c", project_id="p", day_id="d", clips=["a"], poke_interval=5
        ),
    ]
    for trigger in triggers:
        classpath, kwargs = trigger.serialize()
        assert classpath == f"lockit_provider.triggers.lockit.{type(trigger).__name__}"
        text = json.dumps(kwargs)
        assert not any(token in text for token in issued_tokens(sandbox))
        assert rebuilt(trigger).serialize() == (classpath, kwargs)


def test_kwargs_that_are_not_json_are_refused_when_deferring():
    with pytest.raises(TypeError, match="LockitRequestTrigger arguments must be JSON values"):
        request_trigger(body={"when": object()})


def test_request_trigger_returns_the_body(sandbox):
    event = first_event(rebuilt(request_trigger()))
    assert event["status"] == "success"
    assert [p["uuid"] for p in event["body"]] == [p["uuid"] for p in data.PROJECTS]
    assert event_payload(event)["body"] == event["body"]


def test_request_trigger_refuses_a_body_too_big_for_xcom():
    trigger = LockitRequestTrigger(
        lockit_conn_id="lockit_default", method="GET", endpoint="/projects", max_bytes=100
    )
    event = first_event(trigger)
    assert event["status"] == "error"
    assert "max_xcom_bytes=100" in event["message"]
    with pytest.raises(LockitError, match="output_path"):
        event_payload(event)


def test_an_api_error_becomes_an_event_and_then_a_clear_task_failure():
    trigger = LockitRequestTrigger(
        lockit_conn_id="lockit_default",
        method="GET",
        endpoint=f"/projects/{data.NON_PREMIUM_ID}/projectdays",
        max_bytes=10**6,
    )
    event = first_event(trigger)
    assert event["status"] == "error"
    assert event["http_status"] == 403
    assert event["error_type"] == "LockitApiError"
    with pytest.raises(LockitApiError) as info:
        event_payload(event)
    assert info.value.status == 403
    assert "HTTP 403" in str(info.value)
    assert "Production Service" in info.value.body_excerpt


def test_a_dead_grant_becomes_a_reauthorization_error(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1, refresh_token="")
    event = first_event(request_trigger())
    assert event["error_type"] == "LockitReauthorizationRequired"
    with pytest.raises(LockitReauthorizationRequired, match="airflow lockit authorize"):
        event_payload(event)


def test_clips_trigger_polls_until_every_clip_matches(sandbox):
    late = ["C001_C001_LATE.R3D", "C001_C002_LATE.R3D"]
    clips = ["A001_C001_0512AB.R3D", *late]
    trigger = LockitClipsMatchedTrigger(
        lockit_conn_id="lockit_default",
        project_id=data.SERIES_ID,
        day_id=DAY_1,
        clips=clips,
        poke_interval=0.05,
    )

    async def main() -> dict[str, Any]:
        waiting = asyncio.create_task(next_event(rebuilt(trigger)))
        await until(lambda: api_count(sandbox, "200") >= 2)  # it polled twice and found clips missing
        assert not waiting.done()
        sandbox.add_clips(data.SERIES_ID, DAY_1, late)  # the takes arrive now
        return await waiting

    assert asyncio.run(main()) == {
        "status": "success",
        "xcom_value": {"project_id": data.SERIES_ID, "day_id": DAY_1, "clips": clips},
    }
    assert api_count(sandbox, "200") >= 3  # and polled again to see them


def test_polling_rides_out_transient_failures(sandbox):
    # max_retries=1 in the connection: two 503s outlast the hook's retries, then the poll goes on.
    sandbox.add_fault("api", status=503, count=2)
    trigger = LockitClipsMatchedTrigger(
        lockit_conn_id="lockit_default",
        project_id=data.SERIES_ID,
        day_id=DAY_1,
        clips=["A001_C001_0512AB.R3D"],
        poke_interval=0.05,
    )
    assert first_event(trigger)["status"] == "success"
    assert api_count(sandbox, "503") == 2


def test_polling_stops_on_an_error_that_will_not_pass():
    trigger = LockitClipsMatchedTrigger(
        lockit_conn_id="lockit_default",
        project_id=data.SERIES_ID,
        day_id="0" * 32,
        clips=["a"],
        poke_interval=0.05,
    )
    event = first_event(trigger)
    assert (event["status"], event["http_status"]) == ("error", 404)


def test_sensor_trigger_waits_through_pending_statuses_and_applies_the_check(sandbox):
    sandbox.add_fault("api", status=404, count=2)
    trigger = LockitSensorTrigger(
        lockit_conn_id="lockit_default",
        endpoint="/projects",
        poke_interval=0.05,
        check="lockit_provider.triggers.checks.non_empty",
        pending_statuses=[404],
    )
    assert first_event(rebuilt(trigger)) == {"status": "success", "xcom_value": None}
    assert api_count(sandbox, "404") == 2


def test_sensor_trigger_keeps_polling_while_the_check_says_no(sandbox):
    trigger = LockitSensorTrigger(
        lockit_conn_id="lockit_default",
        endpoint=f"/projects/{data.FILM_ID}/episodes",  # a film has no episodes: never non-empty
        poke_interval=0.05,
        check="lockit_provider.triggers.checks.non_empty",
    )

    async def main() -> bool:
        waiting = asyncio.create_task(next_event(trigger))
        await until(lambda: api_count(sandbox, "200") >= 5)  # five polls, each answered "not yet"
        still_waiting = not waiting.done()
        waiting.cancel()
        return still_waiting

    assert asyncio.run(main())


def test_sensors_deferred_together_spread_their_polls_over_the_interval(sandbox, monkeypatch):
    # Hundreds of sensors deferred at once would otherwise poll in the same loop turn, every interval.
    waits: dict[int, list[float]] = {}

    async def noting(self, seconds: float) -> None:
        noted = waits.setdefault(id(self), [])
        noted.append(seconds)
        if len(noted) == 3:
            raise LockitApiError("enough", status=400)  # ends the trigger with an error event

    monkeypatch.setattr(LockitSensorTrigger, "_sleep", noting)
    sandbox.add_fault("api", status=404, count=1000)
    triggers = [
        LockitSensorTrigger(
            lockit_conn_id="lockit_default", endpoint="/projects", poke_interval=10, pending_statuses=[404]
        )
        for _ in range(40)
    ]

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(next_event(trigger) for trigger in triggers)))

    assert {event["status"] for event in asyncio.run(main())} == {"error"}
    first = sorted(noted[0] for noted in waits.values())
    assert len(first) == 40
    assert first[0] >= 5 and first[-1] <= 10  # the first poll: within the second half of the interval
    assert first[-1] - first[0] > 2.5  # spread over it (40 uniform draws: fails with p < 1e-11)
    assert {wait for noted in waits.values() for wait in noted[1:]} == {10.0}  # then the interval
