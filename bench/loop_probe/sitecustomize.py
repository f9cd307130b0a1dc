"""Loop-step probe for ``bench/real_triggerer.py``: loaded into the triggerer via PYTHONPATH only.

Airflow's watchdog says that the event loop was blocked, not by what. This times every asyncio
callback (``Handle._run``: one step of one task) and every garbage collection, and appends each step
over ``LOCKIT_PROBE_MIN_MS`` to ``$LOCKIT_PROBE_DIR/<pid>.jsonl``: its task's name, its wall and CPU
time, and how much of it was a collection. It also sums the steps of each loop iteration: a timer
(Airflow's watchdog's too) waits for the whole iteration it became due in, so many short steps queued
together block as one long one. Each iteration over ``LOCKIT_PROBE_ITERATION_MS`` is written with how
many steps were triggers' (their tasks are named "... (ID n)"). The trigger runner is forked from the
triggerer, so it inherits the hooks. Costs about a microsecond per step.
"""

from __future__ import annotations

import asyncio.base_events
import asyncio.events
import collections
import cProfile  # imported here, not in the first step it profiles
import gc
import io
import json
import os
import pstats
import time
from typing import Any

_DIR = os.environ.get("LOCKIT_PROBE_DIR")
_MIN = float(os.environ.get("LOCKIT_PROBE_MIN_MS", "20")) / 1000
# With LOCKIT_PROBE_GC_TYPES=1, each full collection also notes which types grew in the oldest
# generation since the last one (what made it due). Slow: it walks the heap twice per collection.
_GC_TYPES = os.environ.get("LOCKIT_PROBE_GC_TYPES") == "1"
_ITERATION_MIN = float(os.environ.get("LOCKIT_PROBE_ITERATION_MS", "50")) / 1000
# With LOCKIT_PROBE_PROFILE_STEPS=N, the first N steps of trigger tasks run under cProfile, and the
# slowest one's profile is written to <pid>.profile.txt (what a slow step spent its time on).
_PROFILE_STEPS = int(os.environ.get("LOCKIT_PROBE_PROFILE_STEPS", "0"))


def _oldest_generation_types() -> collections.Counter[str]:
    return collections.Counter(type(item).__name__ for item in gc.get_objects(2))


def _install(directory: str) -> None:
    gc_seconds = [0.0]
    gc_started = [0.0]

    survivors: list[collections.Counter[str]] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if _GC_TYPES and info["generation"] == 2:
            if phase == "start" and survivors:
                grown = _oldest_generation_types() - survivors[-1]
                write({"at": time.time(), "gc_grown": grown.most_common(15)})
            elif phase == "stop":
                survivors[:] = [_oldest_generation_types()]
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_seconds[0] += time.perf_counter() - gc_started[0]

    def write(record: dict[str, Any]) -> None:
        with open(os.path.join(directory, f"{os.getpid()}.jsonl"), "a") as out:
            out.write(json.dumps(record) + "\n")

    original = asyncio.events.Handle._run
    # This iteration's steps: [count, seconds, trigger steps, trigger seconds, collection seconds].
    iteration = [0, 0.0, 0, 0.0, 0.0]

    profiled: list[tuple[float, str]] = []  # (seconds, profile text) of the steps profiled so far

    def profiled_run(self: asyncio.events.Handle) -> None:
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.runcall(original, self)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
        profiled.append((time.perf_counter() - started, f"{self!r:.300}\n{text.getvalue()}"))
        if len(profiled) == _PROFILE_STEPS:
            took, report = max(profiled, key=lambda item: item[0])
            with open(os.path.join(directory, f"{os.getpid()}.profile.txt"), "w") as out:
                out.write(f"slowest of {len(profiled)} trigger steps: {took * 1000:.1f} ms\n{report}")

    def timed_run(self: asyncio.events.Handle) -> None:
        started, cpu_started, gc_before = time.perf_counter(), time.thread_time(), gc_seconds[0]
        task = getattr(self._callback, "__self__", None)
        try:
            if (
                len(profiled) < _PROFILE_STEPS
                and isinstance(task, asyncio.Task)
                and task.get_name().endswith(")")
            ):
                profiled_run(self)
            else:
                original(self)
        finally:
            took = time.perf_counter() - started
            callback = getattr(self._callback, "__self__", None)  # a Task's __step/__wakeup
            iteration[0] += 1
            iteration[1] += took
            iteration[4] += gc_seconds[0] - gc_before
            if isinstance(callback, asyncio.Task) and callback.get_name().endswith(")"):
                iteration[2] += 1
                iteration[3] += took
            if took >= _MIN:
                name = callback.get_name() if isinstance(callback, asyncio.Task) else repr(self._callback)
                coro = repr(callback.get_coro())[:160] if isinstance(callback, asyncio.Task) else ""
                write(
                    {
                        "at": time.time(),
                        "ms": round(took * 1000, 1),
                        "gc_ms": round((gc_seconds[0] - gc_before) * 1000, 1),
                        # Less CPU than wall time: the step waited (another process had the core, or
                        # another thread the GIL) rather than worked.
                        "cpu_ms": round((time.thread_time() - cpu_started) * 1000, 1),
                        "task": name[:200],
                        "coro": coro,
                    }
                )

    run_once = asyncio.base_events.BaseEventLoop._run_once

    def timed_run_once(self: asyncio.base_events.BaseEventLoop) -> None:
        iteration[:] = [0, 0.0, 0, 0.0, 0.0]
        run_once(self)
        if iteration[1] >= _ITERATION_MIN:
            steps, took, trigger_steps, trigger_took, collected = iteration
            write(
                {
                    "at": time.time(),
                    "iteration_ms": round(took * 1000, 1),
                    "steps": steps,
                    "trigger_steps": trigger_steps,
                    "trigger_ms": round(trigger_took * 1000, 1),
                    "gc_ms": round(collected * 1000, 1),
                }
            )

    gc.callbacks.append(on_gc)
    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop._run_once = timed_run_once  # type: ignore[method-assign]


if _DIR:
    _install(_DIR)
