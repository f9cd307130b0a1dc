"""Run a blocking function on a worker thread once for every coroutine of a loop that needs it now.

A thousand triggers that start together, or see their token expire together, each need the same
blocking result (a refresher, an SSL context, a fresh token). Sending each one to a thread would queue
a thousand hops behind each other; here the first caller starts the hop and the others await it.

When the result lands, its waiters go on at most :data:`WAVE` per loop iteration. Released at once,
hundreds of them would each run their next step (build a client, send a request) in one iteration,
and a timer due meanwhile (Airflow's watchdog's too) would wait for all of them: 0.1 s and more with
200 triggers. Between waves the loop runs its timers and I/O.
"""

from __future__ import annotations

import asyncio
import collections
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")
WAVE = 16  # waiters that go on per loop iteration: each runs its next step for well under 1 ms


class _Pacer:
    """Lets at most :data:`WAVE` waiters of a loop go on per iteration, in the order they came."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.passed = 0  # went on since the last tick
        self.queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self.ticking = False

    async def turn(self) -> None:
        """Return at once if this iteration has room, else in a later iteration."""
        self._tick_soon()
        if self.passed < WAVE and not self.queue:
            self.passed += 1
            return
        waiting = self.loop.create_future()
        self.queue.append(waiting)
        await waiting

    def _tick_soon(self) -> None:
        if not self.ticking:
            self.ticking = True
            self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        # Runs once per iteration while anyone waits: the next wave wakes in the next iteration.
        self.ticking = False
        self.passed = 0
        while self.queue and self.passed < WAVE:
            waiting = self.queue.popleft()
            if not waiting.done():  # not cancelled meanwhile
                waiting.set_result(None)
                self.passed += 1
        if self.queue:
            self._tick_soon()


_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)
_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pacer] = weakref.WeakKeyDictionary()


async def once(key: Hashable, func: Callable[[], T]) -> T:
    """Return ``func()`` run on a worker thread, shared with every caller awaiting the same ``key``.

    A caller that is cancelled leaves the hop running for the others (it is shielded).
    """
    return await shared(key, lambda: asyncio.to_thread(func))


async def shared(key: Hashable, start: Callable[[], Awaitable[T]]) -> T:
    """Return the result of ``start()``, awaited once for every caller awaiting the same ``key`` now."""
    loop = asyncio.get_running_loop()
    flights = _flights.setdefault(loop, {})
    flight = flights.get(key)
    if flight is None:
        flight = asyncio.ensure_future(start())
        flights[key] = flight
        flight.add_done_callback(lambda done: _landed(flights, key, done))
    outcome = asyncio.shield(flight)
    try:
        return cast(T, await outcome)
    finally:
        if not outcome.cancelled():  # a cancelled waiter leaves at once
            pacer = _pacers.get(loop)
            if pacer is None:
                pacer = _pacers[loop] = _Pacer(loop)
            await pacer.turn()


def _landed(flights: dict[Hashable, asyncio.Future[Any]], key: Hashable, flight: asyncio.Future[Any]) -> None:
    """Forget a finished flight; mark its error as seen (every waiter may have been cancelled)."""
    flights.pop(key, None)
    if not flight.cancelled():
        flight.exception()
