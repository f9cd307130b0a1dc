"""Sixteen mapped tasks and three deferrable sensors share one LockitNetwork grant across hosts.

Each mapped task calls ``GET /projects`` through LockitHook every ``pause`` seconds for ``duration``
seconds (both from the run's conf). The sensors find no takes for their clips on the first poke and
wait in the triggerer, polling matchClips, until the test makes the clips appear.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from lockit_provider.sensors.lockit import LockitClipsMatchedSensor

TASKS = 16
SENSORS = 3
PROJECT = "Northern Lights"
SHOOTING_DAY = "2026-05-12"


def sensor_clip(index: int) -> str:
    """Return the clip name sensor ``index`` waits for (no seed take has it)."""
    return f"Z{index:03d}_C001_0512ZZ.R3D"


@dag(
    schedule=None,
    catchup=False,
    max_active_tasks=32,
    default_args={"retries": 0},
    params={"duration": 50.0, "pause": 0.3},
    tags=["lockit-distributed"],
)
def lockit_distributed() -> None:
    """Call the API from every worker while sensors wait in the triggerer."""

    @task
    def call_api(worker: int, params: dict[str, Any] | None = None) -> dict[str, float]:
        """Call GET /projects every ``pause`` seconds for ``duration`` seconds."""
        from lockit_provider.hooks.lockit import LockitHook

        settings = params or {}
        duration, pause = float(settings["duration"]), float(settings["pause"])
        hook = LockitHook()
        calls = 0
        first = time.time()
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            assert hook.get_projects()
            calls += 1
            time.sleep(pause)
        return {"worker": worker, "calls": calls, "first": first, "last": time.time()}

    call_api.expand(worker=list(range(TASKS)))
    for index in range(SENSORS):
        LockitClipsMatchedSensor(
            task_id=f"wait_for_takes_{index}",
            project=PROJECT,
            shooting_day=SHOOTING_DAY,
            clips=[sensor_clip(index)],
            deferrable=True,
            poke_interval=3,
            timeout=timedelta(minutes=15),
        )


lockit_distributed()
