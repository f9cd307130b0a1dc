"""Loop-step probe for ``bench/real_triggerer.py``: loaded into the triggerer via PYTHONPATH only.

Airflow's watchdog says that the event loop was blocked, not by what. This times every asyncio
callback (``Handle._run``: one step of one task) and every garbage collection, and appends each step
over ``LOCKIT_PROBE_MIN_MS`` to ``$LOCKIT_PROBE_DIR/<pid>.jsonl``: its task's name, its wall and CPU
time, and how much of it was a collection. The trigger runner is forked from the triggerer, so it
inherits both hooks. Costs about a microsecond per step.
"""

from __future__ import annotations

import asyncio.events
import collections
import gc
import json
import os
import time
from typing import Any

_DIR = os.environ.get("LOCKIT_PROBE_DIR")
_MIN = float(os.environ.get("LOCKIT_PROBE_MIN_MS", "20")) / 1000
# With LOCKIT_PROBE_GC_TYPES=1, each full collection also notes which types grew in the oldest
# generation since the last one (what made it due). Slow: it walks the heap twice per collection.
_GC_TYPES = os.environ.get("LOCKIT_PROBE_GC_TYPES") == "1"


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

    def timed_run(self: asyncio.events.Handle) -> None:
        started, cpu_started, gc_before = time.perf_counter(), time.thread_time(), gc_seconds[0]
        try:
            original(self)
        finally:
            took = time.perf_counter() - started
            if took >= _MIN:
                callback = getattr(self._callback, "__self__", None)  # a Task's __step/__wakeup
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

    gc.callbacks.append(on_gc)
    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]


if _DIR:
    _install(_DIR)
