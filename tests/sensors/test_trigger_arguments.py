"""What sensors and operators hand the triggerer: arguments as attributes, rendered and serialized."""

from __future__ import annotations

import asyncio

import pytest

from lockit_provider.sandbox import data
from lockit_provider.triggers.lockit import (
    LockitClipsMatchedTrigger,
    LockitRequestTrigger,
    LockitSensorTrigger,
    LockitTrigger,
)
from tests.support.connections import use_sandbox

TRIGGERS = [
    LockitRequestTrigger(
        lockit_conn_id="c",
        method="POST",
        endpoint="/e",
        max_bytes=10,
        query={"q": 1},
        body=[1],
        log_response=True,
    ),
    LockitSensorTrigger(
        lockit_conn_id="c", endpoint="/e", poke_interval=5, check="m.f", pending_statuses=[404]
    ),
    LockitClipsMatchedTrigger(lockit_conn_id="c", project_id="p", day_id="d", clips=["a"], poke_interval=5),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_every_argument_is_an_attribute_and_serialize_reads_the_attributes(trigger: LockitTrigger):
    _, kwargs = trigger.serialize()
    assert "kwargs" not in vars(trigger)
    assert set(kwargs) == set(trigger.serialized_fields)
    assert all(getattr(trigger, name) == value for name, value in kwargs.items())
    trigger.lockit_conn_id = "changed"
    assert trigger.serialize()[1]["lockit_conn_id"] == "changed"


@pytest.mark.skipif(
    not hasattr(LockitTrigger, "render_template_fields"),
    reason="Airflow < 3.3 renders no trigger template fields (the task hands over rendered values)",
)
def test_airflow_renders_template_fields_on_the_attributes():
    trigger = LockitRequestTrigger(
        lockit_conn_id="{{ params.conn }}", method="GET", endpoint="/projects/{{ params.p }}", max_bytes=10
    )
    trigger.template_fields = ("lockit_conn_id", "endpoint")  # what the triggerer keeps of the task's
    trigger.render_template_fields({"params": {"conn": "lockit_prod", "p": "abc"}})
    assert (trigger.lockit_conn_id, trigger.endpoint) == ("lockit_prod", "/projects/abc")
    assert trigger.serialize()[1]["endpoint"] == "/projects/abc"


def test_a_polling_trigger_says_still_waiting_only_when_it_changes(sandbox, monkeypatch, tmp_path, capsys):
    use_sandbox(monkeypatch, sandbox, tmp_path)
    day = data.SERIES_DAY_IDS[0]
    trigger = LockitClipsMatchedTrigger(
        lockit_conn_id="lockit_default",
        project_id=data.SERIES_ID,
        day_id=day,
        clips=["A001_C001_0512AB.R3D", "LATE_C001.R3D"],
        poke_interval=0.05,
    )
    polls = 0
    real_poll = trigger.poll

    async def poll(hook):
        nonlocal polls
        polls += 1
        if polls == 4:  # the iPad syncs after three polls found the clip missing
            sandbox.add_clips(data.SERIES_ID, day, ["LATE_C001.R3D"])
        return await real_poll(hook)

    trigger.poll = poll  # type: ignore[method-assign]

    async def first_event():
        async for event in trigger.run():
            return event.payload

    assert asyncio.run(first_event())["status"] == "success"
    assert polls == 4
    logged = capsys.readouterr().out  # the trigger's log at its default level, INFO
    assert logged.count("1 of 2 clips have take metadata; waiting for LATE_C001.R3D") == 1
    assert "LockitNetwork POST" not in logged  # the hook's per-call line is at DEBUG while polling
