"""LockitAsyncHook: the same retry policy on httpx, and an event loop that never waits for a refresh."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from lockit_provider.exceptions import LockitApiError, LockitReauthorizationRequired
from lockit_provider.hooks.lockit import LockitAsyncHook
from lockit_provider.http.retry import RetryPolicy
from lockit_provider.sandbox import data
from tests.support.connections import use_sandbox
from tests.support.counts import api_count

QUICK = RetryPolicy(max_retries=3, backoff=0.02, backoff_max=0.1, deadline=30)


def run(coro_fn, *args):
    """Run ``coro_fn(hook, *args)`` on a fresh loop with a fresh hook, closing the hook after."""

    async def main():
        hook = LockitAsyncHook(retry_policy=QUICK)
        try:
            return await coro_fn(hook, *args)
        finally:
            await hook.aclose()

    return asyncio.run(main())


@pytest.fixture(autouse=True)
def _sandbox_connection(monkeypatch, sandbox, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path)


def test_typed_calls(sandbox):
    async def calls(hook):
        projects = await hook.get_projects()
        matches = await hook.match_clips(
            data.FILM_ID, data.FILM_DAY_IDS[0], ["A001C002_260601_R1QH.mxf", "x"]
        )
        return projects, matches

    projects, matches = run(calls)
    assert len(projects) == 3
    assert [(m["clip"], m["episode"]) for m in matches] == [("A001C002_260601_R1QH.mxf", None)]


def test_connection_is_read_once_and_the_client_reused(monkeypatch):
    reads = []
    original = LockitAsyncHook.aget_connection.__func__

    async def counting(cls, conn_id):
        reads.append(conn_id)
        return await original(cls, conn_id)

    monkeypatch.setattr(LockitAsyncHook, "aget_connection", classmethod(counting))

    async def calls(hook):
        first = await hook.get_conn()
        await asyncio.gather(*(hook.get_projects() for _ in range(5)))
        return first is await hook.get_conn()

    assert run(calls) is True
    assert reads == ["lockit_default"]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(sandbox, status):
    sandbox.add_fault("api", status=status, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert run(lambda hook: hook.get_projects())
    assert 1.0 <= time.monotonic() - started < 2.0
    assert api_count(sandbox, str(status)) == 1


def test_dropped_connections_and_gateway_errors_are_retried(sandbox):
    sandbox.add_fault("api", drop=True)
    sandbox.add_fault("api", status=502, body="<html>bad gateway</html>")
    assert run(lambda hook: hook.get_projects())
    assert api_count(sandbox, "dropped") == 1
    assert api_count(sandbox, "502") == 1


def test_other_errors_are_not_retried(sandbox):
    sandbox.add_fault("api", status=404, count=3)
    with pytest.raises(LockitApiError) as info:
        run(lambda hook: hook.get_projects())
    assert info.value.status == 404
    assert api_count(sandbox, "404") == 1


def test_a_401_refreshes_once_and_retries(sandbox):
    async def calls(hook):
        await hook.get_projects()
        sandbox.expire_access_tokens()
        return await hook.get_projects()

    assert run(calls)
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1
    assert api_count(sandbox, "401") == 1


def test_concurrent_calls_with_an_expired_token_refresh_once(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1)
    sandbox.expire_access_tokens()

    async def calls(hook):
        return await asyncio.gather(*(hook.get_projects() for _ in range(8)))

    assert all(run(calls))
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1


def test_the_event_loop_keeps_running_while_a_slow_refresh_blocks(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1)
    sandbox.add_fault("token", delay=1.5)
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def calls(hook):
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        started = time.monotonic()
        projects = await hook.get_projects()
        elapsed = time.monotonic() - started
        stop.set()
        await ticking
        return projects, elapsed

    projects, elapsed = run(calls)
    assert projects
    assert elapsed >= 1.5  # the refresh really waited for the slow token endpoint
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 50
    assert max(gaps) < 0.25
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1


def test_a_dead_grant_is_an_error_naming_the_command(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1, refresh_token="")
    with pytest.raises(LockitReauthorizationRequired) as info:
        run(lambda hook: hook.get_projects())
    assert "airflow lockit authorize --conn-id lockit_default" in str(info.value)
