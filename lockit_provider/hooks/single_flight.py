"""Run a blocking function on a worker thread once for every coroutine of a loop that needs it now.

A thousand triggers that start together, or see their token expire together, each need the same
blocking result (a refresher, an SSL context, a fresh token). Sending each one to a thread would queue
a thousand hops behind each other; here the first caller starts the hop and the others await it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")

_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)


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
    return cast(T, await asyncio.shield(flight))


def _landed(flights: dict[Hashable, asyncio.Future[Any]], key: Hashable, flight: asyncio.Future[Any]) -> None:
    """Forget a finished flight; mark its error as seen (every waiter may have been cancelled)."""
    flights.pop(key, None)
    if not flight.cancelled():
        flight.exception()
