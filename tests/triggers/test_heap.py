"""The trigger runner's start-up heap is frozen once, there only, unless turned off.

``[lockit] triggerer_gc_freeze = False`` turns it off. Each case runs in its own Python process: a
frozen heap would stay frozen for the rest of the tests. The trigger runner is recognized by
Airflow's own watchdog coroutine (``TriggerRunner.block_watchdog``), run here on the loop as the
triggerer runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Two LockitNetwork triggers build their hooks (the first loads the hook module and decides), on a loop
# that runs Airflow's trigger-runner watchdog or not. Prints: decided, frozen objects, after a second.
SCRIPT = """
import asyncio, gc, sys
from lockit_provider.triggers import heap
from lockit_provider.triggers.lockit import new_async_hook

async def main(in_runner):
    if in_runner:
        from airflow.jobs.triggerer_job_runner import TriggerRunner
        watchdog = asyncio.create_task(TriggerRunner().block_watchdog())
        await asyncio.sleep(0)
    await new_async_hook("lockit_default")
    first = gc.get_freeze_count()
    await new_async_hook("lockit_default")
    print(heap.freeze_startup_heap(), first, gc.get_freeze_count() == first)
    if in_runner:
        watchdog.cancel()

asyncio.run(main(sys.argv[1] == "runner"))
"""


def decide(where: str, **env: str) -> tuple[str, int, str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, where],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    decided, frozen, unchanged = result.stdout.splitlines()[-1].split()  # after any log lines
    return decided, int(frozen), unchanged


def test_the_trigger_runner_freezes_its_heap_once():
    decided, frozen, unchanged = decide("runner")
    assert decided == "True"
    assert frozen > 10_000  # Airflow's modules and more: what full collections no longer walk
    assert unchanged == "True"  # the second trigger froze nothing more


@pytest.mark.parametrize(
    ("where", "env"),
    [
        ("task", {}),  # a task, a test or `airflow dags test`: a loop without the runner's watchdog
        ("runner", {"AIRFLOW__LOCKIT__TRIGGERER_GC_FREEZE": "False"}),
    ],
    ids=["outside-the-triggerer", "turned-off"],
)
def test_nothing_is_frozen_elsewhere_or_when_turned_off(where, env):
    assert decide(where, **env) == ("False", 0, "True")
