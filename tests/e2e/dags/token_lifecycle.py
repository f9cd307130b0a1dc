"""Eight parallel tasks and one deferred trigger share one LockitNetwork grant (``lockit_lifecycle``)."""

from __future__ import annotations

import os
import time

from airflow.sdk import dag, task

from tests.e2e.lifecycle_trigger import CONN_ID, HammerFromTriggererOperator

DURATION = float(os.environ.get("LOCKIT_E2E_DURATION", "30"))
PAUSE = 0.5


@dag(schedule=None, catchup=False, max_active_tasks=16, tags=["lockit-e2e"])
def lockit_token_lifecycle() -> None:
    @task
    def hammer(worker: int) -> dict[str, int]:
        from lockit_provider.hooks.lockit import LockitHook

        hook = LockitHook(lockit_conn_id=CONN_ID)
        calls = 0
        deadline = time.monotonic() + DURATION
        while time.monotonic() < deadline:
            assert hook.get_projects()
            calls += 1
            time.sleep(PAUSE)
        return {"worker": worker, "calls": calls}

    hammer.expand(worker=list(range(8)))
    HammerFromTriggererOperator(task_id="from_triggerer", duration=DURATION, pause=PAUSE, conn_id=CONN_ID)


lockit_token_lifecycle()
