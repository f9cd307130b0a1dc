"""Helpers for the hook tests that only they use; shared helpers are in ``tests/support``."""

from __future__ import annotations

import asyncio
import gc
import time


class LoopSteps:
    """Measure every step an asyncio event loop runs (each callback, e.g. one stretch of a coroutine).

    Wall and CPU time of the loop's thread per step: a step that takes CPU for long blocks every other
    coroutine, whatever the load of the machine; CPU time is not inflated by other processes. Objects
    that exist before are frozen out of the garbage collector: a full collection of a test process's
    ~200k objects costs ~0.1 s of CPU in whichever step it lands, and is the interpreter's, not the code's.
    """

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.longest_cpu = 0.0  # CPU seconds of the longest step
        self.worst = ""
        self._original = asyncio.events.Handle._run

    def __enter__(self) -> LoopSteps:
        steps, original = self, self._original

        def timed_run(handle: asyncio.events.Handle) -> None:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                original(handle)
            finally:
                steps.cpu.append(time.thread_time() - cpu)
                steps.wall.append(time.perf_counter() - wall)
                if steps.cpu[-1] >= steps.longest_cpu:
                    steps.longest_cpu, steps.worst = steps.cpu[-1], repr(handle)

        gc.freeze()
        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.unfreeze()

    def describe(self) -> str:
        """Return a summary for assertion messages."""
        return (
            f"{len(self.cpu)} steps; longest: {self.longest_cpu * 1000:.1f} ms CPU, "
            f"{max(self.wall, default=0.0) * 1000:.1f} ms wall; the longest in CPU: {self.worst[:300]}"
        )
