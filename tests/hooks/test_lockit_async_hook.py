"""LockitAsyncHook: the same retry policy on httpx, and an event loop that never waits for set-up."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from lockit_provider.exceptions import LockitApiError, LockitConfigError, LockitReauthorizationRequired
from lockit_provider.hooks import single_flight
from lockit_provider.hooks.lockit import LockitAsyncHook
from lockit_provider.http.retry import RetryPolicy
from lockit_provider.sandbox import data
from tests.hooks.helpers import LoopSteps
from tests.support.connections import use_sandbox
from tests.support.counts import api_count

QUICK = RetryPolicy(max_retries=3, backoff=0.02, backoff_max=0.1, deadline=30)


def run(coro_fn, *args, waits: list[float] | None = None, policy: RetryPolicy = QUICK):
    """Run ``coro_fn(hook, *args)`` on a fresh loop with a fresh hook, closing the hook after.

    With ``waits``, the hook notes the waits it chooses between attempts instead of sleeping them.
    """

    async def main():
        hook = LockitAsyncHook(retry_policy=policy)
        if waits is not None:

            async def note(seconds: float) -> None:
                waits.append(seconds)

            hook._sleep = note  # type: ignore[method-assign]
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


@pytest.fixture
def connection_reads(monkeypatch) -> list[str]:
    """The connection ids the async hook reads, in order."""
    reads: list[str] = []
    original = LockitAsyncHook.aget_connection.__func__

    async def counting(cls, conn_id):
        reads.append(conn_id)
        return await original(cls, conn_id)

    monkeypatch.setattr(LockitAsyncHook, "aget_connection", classmethod(counting))
    return reads


def test_connection_is_read_once_and_the_client_reused(connection_reads):

    async def calls(hook):
        first = await hook.get_conn()
        await asyncio.gather(*(hook.get_projects() for _ in range(5)))
        return first is await hook.get_conn()

    assert run(calls) is True
    assert connection_reads == ["lockit_default"]


def test_hooks_that_start_together_share_one_connection_read(connection_reads):

    async def start_together():
        hooks = [LockitAsyncHook(retry_policy=QUICK) for _ in range(20)]
        try:
            await asyncio.gather(*(hook.get_projects() for hook in hooks))
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    asyncio.run(start_together())
    assert connection_reads == ["lockit_default"]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(sandbox, status):
    sandbox.add_fault("api", status=status, headers={"Retry-After": "1"})
    waits: list[float] = []
    assert run(lambda hook: hook.get_projects(), waits=waits)
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 1.1  # the server's second plus at most a tenth of it as jitter
    assert api_count(sandbox, str(status)) == 1


def test_a_retry_after_for_decades_is_not_waited_for(sandbox):
    sandbox.add_fault("api", status=503, headers={"Retry-After": "1000000000"})
    waits: list[float] = []
    with pytest.raises(LockitApiError) as info:
        run(lambda hook: hook.get_projects(), waits=waits)
    assert waits == []
    assert "retry deadline of 30 s" in str(info.value)


def test_the_deadline_bounds_the_whole_call_not_each_read(sandbox):
    # Each attempt is slower than the deadline; without an overall deadline the read timeout (30 s)
    # and four retries would keep the caller for minutes.
    sandbox.add_fault("api", delay=30, count=5)
    with pytest.raises(LockitApiError) as info:
        run(lambda hook: hook.get_projects(), policy=RetryPolicy(max_retries=4, deadline=0.5))
    assert "within the call's deadline of 0.5 s" in str(info.value)
    assert info.value.retryable  # a poller polls again later


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


def test_an_accepted_status_is_returned_not_raised(sandbox):
    sandbox.add_fault("api", status=404, count=2)
    response = run(lambda hook: hook.request("GET", "projects", accept_statuses=[404]))
    assert response.status_code == 404
    assert api_count(sandbox, "404") == 1  # an answer: not retried
    with pytest.raises(LockitApiError) as info:  # without it, the same answer is an error
        run(lambda hook: hook.request("GET", "projects", accept_statuses=[409]))
    assert info.value.status == 404


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


def test_the_event_loop_never_blocks_while_hooks_are_built_and_a_slow_refresh_runs(
    sandbox, monkeypatch, tmp_path
):
    # A cold process has a fresh secrets masker. Airflow's masker rebuilds one regex of every secret
    # it holds on each add (34 ms at 500 secrets), and aget_connection adds the connection's on the
    # loop: the suite's earlier tests would be measured, not the hook.
    from airflow.sdk._shared.secrets_masker.secrets_masker import _secrets_masker

    masker = _secrets_masker()
    monkeypatch.setattr(masker, "patterns", set())
    monkeypatch.setattr(masker, "replacer", None)
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1)
    sandbox.add_fault("token", delay=1.5)
    refreshing: list[bool] = []  # one entry per loop step taken while the token request was pending

    async def calls():
        async def call() -> object:
            hook = LockitAsyncHook(retry_policy=QUICK)  # a cold process: SSL context, refresher, store
            try:
                return await hook.get_projects()
            finally:
                await hook.aclose()

        async def watch(done: asyncio.Event) -> None:
            while not done.is_set():
                pending = sandbox.stats()["token_requests"].get("refresh_token", 0) == 1
                refreshing.append(pending)
                await asyncio.sleep(0.01)

        done = asyncio.Event()
        watcher = asyncio.create_task(watch(done))
        results = await asyncio.gather(*(call() for _ in range(100)))
        done.set()
        await watcher
        return results

    with LoopSteps() as steps:
        results = asyncio.run(calls())
    assert all(results)
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1
    assert any(refreshing)  # the loop kept stepping while the refresh waited for the token endpoint
    # CPU time of each step on the loop's thread: another process taking the CPU does not count.
    print(steps.describe())
    assert steps.longest_cpu < 0.05, steps.describe()


def test_a_cached_token_is_read_without_a_thread_hop(sandbox, monkeypatch):
    hops: list[object] = []
    original = single_flight.once

    async def counting(key, func):
        hops.append(key)
        return await original(key, func)

    monkeypatch.setattr(single_flight, "once", counting)

    async def calls(hook):
        await hook.get_projects()  # first use: refresher and token loaded on a thread
        hops.clear()
        await asyncio.gather(*(hook.get_projects() for _ in range(20)))

    run(calls)
    assert hops == []


def test_a_tls_failure_is_a_config_error_and_not_retried(sandbox_factory, monkeypatch, tmp_path):
    tls_sandbox = sandbox_factory(auto_approve=True, tls=True)
    use_sandbox(monkeypatch, tls_sandbox, tmp_path)
    waits: list[float] = []
    with pytest.raises(LockitConfigError) as info:
        run(lambda hook: hook.get_projects(), waits=waits)
    assert info.value.field == "ca_bundle"
    assert tls_sandbox.url.split("://")[1] in str(info.value)
    assert "certificate" in str(info.value)
    assert waits == []
    use_sandbox(monkeypatch, tls_sandbox, tmp_path, ca_bundle=tls_sandbox.ca_cert_path)
    assert run(lambda hook: hook.get_projects())


def test_a_dead_grant_is_an_error_naming_the_command(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1, refresh_token="")
    with pytest.raises(LockitReauthorizationRequired) as info:
        run(lambda hook: hook.get_projects())
    assert "airflow lockit authorize --conn-id lockit_default" in str(info.value)


def test_calls_leave_no_reference_cycles_behind(sandbox):
    # httpx binds each response's stream back to the response: garbage only a cycle collection frees.
    # A triggerer's hundreds of pollers would make full collections, each holding its loop, come twice
    # as often. The hook drops the stream once the body is read.
    def from_the_http_stack(obj: object) -> bool:
        return type(obj).__module__.split(".")[0] in {"httpx", "httpcore", "h11"}

    async def calls(hook):
        await hook.get_projects()  # the connection, the refresher and the token are set up
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(10):
                await hook.get_projects()
                missing = await hook.request("GET", "/projects/nope/scenes/nope", accept_statuses=[404])
                assert missing.status_code == 404
            gc.collect()
            return [type(obj).__qualname__ for obj in gc.garbage if from_the_http_stack(obj)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()

    assert run(calls) == []
