"""single_flight: one call for every waiter, and waiters that go on in waves, never all in one loop turn."""

from __future__ import annotations

import asyncio
import collections
import threading

import pytest

from lockit_provider.hooks import single_flight


class Iterations:
    """Count the loop's iterations: a callback that schedules itself runs once in each."""

    def __init__(self) -> None:
        self.count = 0
        self._stopped = False

    def start(self) -> None:
        self._tick()

    def _tick(self) -> None:
        if not self._stopped:
            self.count += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._stopped = True


def run_waiters(n: int, func, cancel: frozenset[int] = frozenset()) -> tuple[dict[int, object], list[int]]:
    """Start ``n`` waiters of one flight (cancelling those in ``cancel``); return outcomes and iterations."""
    went_on: list[int] = []  # the loop iteration in which each waiter went on

    async def main() -> dict[int, object]:
        iterations = Iterations()
        iterations.start()

        async def waiter() -> object:
            try:
                return await single_flight.once("key", func)
            finally:
                went_on.append(iterations.count)

        tasks = [asyncio.create_task(waiter()) for _ in range(n)]
        await asyncio.sleep(0)  # every waiter is waiting for the flight
        for index in cancel:
            tasks[index].cancel()
        outcomes: dict[int, object] = {}
        for index, task in enumerate(tasks):
            try:
                outcomes[index] = await task
            except BaseException as err:  # the outcome is what the test checks
                outcomes[index] = type(err).__name__
        iterations.stop()
        return outcomes

    return asyncio.run(main()), went_on


def test_one_call_serves_every_waiter_a_wave_per_loop_iteration():
    calls: list[str] = []

    def func() -> str:
        calls.append(threading.current_thread().name)
        return "result"

    outcomes, went_on = run_waiters(100, func)
    assert set(outcomes.values()) == {"result"}
    assert len(calls) == 1 and calls[0] != threading.main_thread().name  # once, on a worker thread
    per_iteration = collections.Counter(went_on)
    assert max(per_iteration.values()) == single_flight.WAVE
    assert len(per_iteration) >= 100 // single_flight.WAVE  # 100 waiters needed 7 iterations at least


def test_an_error_reaches_every_waiter_in_waves_too():
    def func() -> str:
        raise ValueError("no")

    outcomes, went_on = run_waiters(40, func)
    assert set(outcomes.values()) == {"ValueError"}
    assert max(collections.Counter(went_on).values()) <= single_flight.WAVE


def test_a_cancelled_waiter_leaves_at_once_and_holds_up_no_other():
    release = threading.Event()

    def func() -> str:
        release.wait(30)
        return "result"

    cancelled = frozenset(range(0, 40, 3))
    threading.Timer(0.2, release.set).start()
    outcomes, _ = run_waiters(40, func, cancel=cancelled)
    assert {outcomes[i] for i in cancelled} == {"CancelledError"}
    assert {outcomes[i] for i in range(40) if i not in cancelled} == {"result"}


@pytest.mark.parametrize("n", [1, single_flight.WAVE])
def test_a_small_flight_goes_on_in_one_iteration(n):
    outcomes, went_on = run_waiters(n, lambda: "result")
    assert set(outcomes.values()) == {"result"}
    assert len(set(went_on)) == 1
