"""A thousand deferred sensors in one event loop: LockitSensorTrigger against the HTTP provider's trigger.

For each N (100, 500, 1000) it runs two phases, in alternating order, each in a fresh worker process:
N ``LockitSensorTrigger``s, or N ``HttpSensorTrigger``s with a static bearer header, all polling
every second, driven concurrently in one asyncio loop the way the triggerer runs them (a task per
trigger, ``async for event in trigger.run()``). Both poll their own path, which the sandbox answers
404 (after checking the token) until "the condition becomes true": then a queued fault answers 200.
The sandbox runs in its own process, so it is not on the measured loop; this process samples its
connections from the outside.

Per phase it reports: start-up until every trigger has polled once; the longest loop stall and the
time the loop ran more than 100 ms late (a 10 ms ticker); the steady-state loop lag p99 (after
start-up, before the condition); peak memory growth over the imports (VmHWM); peak connections
at the sandbox; "condition true" -> last event. Then, with a token that expires during the run
(``--expires-in``, a second sandbox), N LockitSensorTriggers across several expiries: refreshes,
401s, failed events (the HTTP trigger's static token cannot outlive an expiry, so it has no row).

Run: ``.venv/bin/python bench/triggerer_scale.py [--sizes 100,500,1000] [--expires-in 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lockit_provider.sandbox import data  # noqa: E402 - after the path set-up
from tests.e2e.sandbox_process import SandboxProcess  # noqa: E402

INTERVAL = 1.0  # poll interval of every trigger, seconds
TICK = 0.01  # the lag monitor's sleep
LOCKIT_CONN, HTTP_CONN = "lockit_bench", "http_bench"
_trigger_index: contextvars.ContextVar[int] = contextvars.ContextVar("trigger_index", default=-1)


# --- the worker: one phase, in its own process ---------------------------------------------------
def poll_path(index: int) -> str:
    """Return trigger ``index``'s own path: a scene that does not exist (404) until the fault."""
    return f"/projects/{data.SERIES_ID}/scenes/{index:032x}"


def instrument(kind: str, first_poll: dict[int, float]) -> None:
    """Note when each trigger's first poll completes (wraps the hook's one call, both kinds alike)."""
    if kind == "lockit":
        from lockit_provider.hooks.lockit import LockitAsyncHook as Hook

        name = "request"
    else:
        from airflow.providers.http.hooks.http import HttpAsyncHook as Hook

        name = "run"
    original = getattr(Hook, name)

    async def noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        finally:
            first_poll.setdefault(_trigger_index.get(), time.perf_counter())

    setattr(Hook, name, noted)


def build_triggers(kind: str, n: int) -> list[Any]:
    """Return N triggers of one kind, each polling its own path."""
    if kind == "lockit":
        from lockit_provider.triggers.lockit import LockitSensorTrigger

        return [
            LockitSensorTrigger(
                lockit_conn_id=LOCKIT_CONN,
                endpoint=poll_path(i),
                poke_interval=INTERVAL,
                pending_statuses=[404],
            )
            for i in range(n)
        ]
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return [
        HttpSensorTrigger(endpoint=poll_path(i), http_conn_id=HTTP_CONN, poke_interval=INTERVAL)
        for i in range(n)
    ]


def rss_peak_mb() -> float:
    """Return this process's peak resident memory (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def drive(kind: str, triggers: list[Any], steady: float, sandbox_url: str) -> dict[str, Any]:
    """Run the triggers in this loop until each has yielded its event; return the measurements."""
    first_poll: dict[int, float] = {}
    instrument(kind, first_poll)
    lags: list[tuple[float, float]] = []  # (when, how late the ticker woke)
    events: dict[int, float] = {}
    failures: list[str] = []

    async def monitor() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            lags.append((now, max(0.0, now - before - TICK)))

    async def run_one(index: int, trigger: Any) -> None:
        _trigger_index.set(index)
        try:
            async for event in trigger.run():
                payload = event.payload
                if isinstance(payload, dict) and payload.get("status") == "error":
                    failures.append(str(payload.get("message"))[:200])
                events[index] = time.perf_counter()
                return
        except Exception as err:  # the HTTP trigger raises what it does not wait through
            failures.append(f"{type(err).__name__}: {err}"[:200])
            events[index] = time.perf_counter()

    ticker = asyncio.create_task(monitor())
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    tasks = [asyncio.create_task(run_one(i, t)) for i, t in enumerate(triggers)]
    while len(first_poll) < len(triggers) and time.perf_counter() - started < 300:
        await asyncio.sleep(0.05)
    all_polled = time.perf_counter()
    await asyncio.sleep(steady)
    steady_end = time.perf_counter()
    flipped = time.perf_counter()
    fault = {"target": "api", "status": 200, "body": "{}", "count": 100 * len(triggers)}
    fault["path"] = f"/projects/{data.SERIES_ID}/scenes/"
    await asyncio.to_thread(requests.post, f"{sandbox_url}/_sandbox/faults", json=fault, timeout=30)
    await asyncio.wait(tasks, timeout=300)
    ticker.cancel()
    steady_lags = [lag for when, lag in lags if all_polled <= when <= steady_end]
    # LockitPollTrigger waits one interval before its first poll (the task poked just before deferring);
    # the HTTP trigger polls at once. "start-up" is measured from when the first poll is due.
    first_due = started + (INTERVAL if kind == "lockit" else 0.0)
    return {
        "startup_s": (max(first_poll.values()) if first_poll else all_polled) - first_due,
        "startup_raw_s": (max(first_poll.values()) if first_poll else all_polled) - started,
        "polled": len(first_poll),
        "stall_max_s": max((lag for _, lag in lags), default=0.0),
        "late_total_s": sum(lag for _, lag in lags if lag > 0.1),
        "lag_p99_ms": (statistics.quantiles(steady_lags, n=100)[98] * 1000) if len(steady_lags) > 2 else None,
        "events": len(events),
        "failed": len(failures),
        "failures": failures[:3],
        "condition_to_last_event_s": (max(events.values()) - flipped) if events else None,
    }


def worker(args: argparse.Namespace) -> None:
    """Run one phase and print its measurements as one JSON line."""
    import airflow.sdk  # noqa: F401 - the imports a triggerer has anyway, before the baseline

    from lockit_provider.oauth.store import MemoryStore
    from lockit_provider.tokens import refresher_factory

    stores: list[Any] = []

    class CountingStore(MemoryStore):
        loads = 0

        def load(self) -> Any:
            CountingStore.loads += 1
            return super().load()

    # No metadata DB here: the live record lives in memory (the Variable store's reads are counted).
    refresher_factory.VariableTokenStore = lambda key: stores.append(CountingStore()) or stores[-1]  # type: ignore[assignment,func-returns-value]
    triggers = build_triggers(args.kind, args.n)
    import aiohttp  # noqa: F401
    import httpx  # noqa: F401

    import lockit_provider.hooks.lockit
    import lockit_provider.triggers.lockit  # noqa: F401

    gc.collect()
    baseline = psutil.Process().memory_info().rss / 2**20
    result = asyncio.run(drive(args.kind, triggers, args.steady, args.sandbox))
    result.update(
        kind=args.kind,
        n=args.n,
        rss_growth_mb=rss_peak_mb() - baseline,
        baseline_mb=baseline,
        store_loads=CountingStore.loads,
        refreshers=len(stores),
    )
    print("RESULT " + json.dumps(result), flush=True)


# --- the orchestrator ------------------------------------------------------------------------------
def bench_connections(sandbox_url: str, tokens: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return both connections: LockitNetwork with the tokens, HTTP with the access token as a header."""
    lockit = {
        "conn_type": "lockit",
        "host": sandbox_url,
        "login": "lockit-client",
        "password": "lockit-secret",
        "extra": {
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": time.time() + tokens["expires_in"],
        },
    }
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    return {LOCKIT_CONN: lockit, HTTP_CONN: {"conn_type": "http", "host": sandbox_url, "extra": bearer}}


def connection_env(home: Path, sandbox: SandboxProcess) -> dict[str, str]:
    """Return the environment of a worker: both connections, with tokens the sandbox just issued."""
    conns = bench_connections(sandbox.url, sandbox.issue_tokens())
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "LOCKIT_STATE_DIR": str(home / "lockit"),
        **{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()},
    }


def sandbox_pid(sandbox: SandboxProcess) -> int:
    """Return the sandbox process id."""
    assert sandbox._proc is not None
    return sandbox._proc.pid


def run_phase(kind: str, n: int, sandbox: SandboxProcess, home: Path, steady: float) -> dict[str, Any]:
    """Run one worker; sample the sandbox's established connections meanwhile; return its results."""
    sandbox.control("POST", "reset")
    port = int(sandbox.url.rsplit(":", 1)[1])
    server = psutil.Process(sandbox_pid(sandbox))
    peak = {"connections": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                conns = server.net_connections(kind="tcp")
            except psutil.Error:
                conns = []
            count = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
            peak["connections"] = max(peak["connections"], count)
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    command = [sys.executable, __file__, "--worker", "--kind", kind, "--n", str(n), "--steady", str(steady)]
    command += ["--sandbox", sandbox.url]
    issued = time.time()
    env = connection_env(home, sandbox)  # issues the tokens
    try:
        proc = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        done.set()
        sampler.join()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"worker {kind} N={n} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    stats = sandbox.stats()
    result.update(
        token_age_s=time.time() - issued,
        peak_connections=peak["connections"],
        refreshes=stats["token_requests"].get("refresh_token", 0),
        api_401=stats["api_requests"].get("401", 0),
    )
    return result


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    """Format a number (or None) for the table."""
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def print_table(results: list[dict[str, Any]]) -> None:
    """Print the side-by-side table and the ratios against the HTTP trigger."""
    print(
        "| N | trigger | start-up from first poll due (from start) | longest stall | >100 ms late "
        "| lag p99 (steady) | peak RSS growth "
        "| peak conns | condition -> last event | events/failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n']} | {r['kind']} | {fmt(r['startup_s'], ' s', 2)} ({fmt(r['startup_raw_s'], ' s', 2)}) "
            f"| {fmt(r['stall_max_s'], ' s', 3)} "
            f"| {fmt(r['late_total_s'], ' s', 2)} | {fmt(r['lag_p99_ms'], ' ms', 1)} "
            f"| {fmt(r['rss_growth_mb'], ' MB', 1)} | {r['peak_connections']} "
            f"| {fmt(r['condition_to_last_event_s'], ' s', 2)} | {r['events']}/{r['failed']} |"
        )
    by = {(r["n"], r["kind"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        lockit, http = by.get((n, "lockit")), by.get((n, "http"))
        if not (lockit and http):
            continue
        ratios = {
            "start-up": (lockit["startup_s"] / http["startup_s"], 1.5),
            "longest stall": (lockit["stall_max_s"] / max(http["stall_max_s"], 1e-3), 2.0),
            "peak memory": (lockit["rss_growth_mb"] / max(http["rss_growth_mb"], 1e-3), 1.3),
            "lag p99": ((lockit["lag_p99_ms"] or 0) / max(http["lag_p99_ms"] or 0, 1e-3), 1.0),
        }
        text = ", ".join(
            f"{name} {ratio:.2f}x ({'met' if ratio <= target else 'MISSED'} <= {target}x)"
            for name, (ratio, target) in ratios.items()
        )
        print(f"N={n} lockit/http: {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--steady", type=float, default=10.0, help="seconds of steady polling per phase")
    parser.add_argument(
        "--expires-in", type=int, default=20, help="token lifetime of the expiry run; 0: skip"
    )
    parser.add_argument("--expiry-n", type=int, default=1000)
    parser.add_argument("--expiry-steady", type=float, default=50.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=("lockit", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lockit-triggerer-scale-") as tmp, SandboxProcess() as sandbox:
        print(f"sandbox {sandbox.url} (pid {sandbox_pid(sandbox)}); poll interval {INTERVAL:g} s", flush=True)
        for round_index, n in enumerate(sizes):
            kinds = ("lockit", "http") if round_index % 2 == 0 else ("http", "lockit")
            for kind in kinds:
                result = run_phase(kind, n, sandbox, Path(tmp) / f"{kind}-{n}", args.steady)
                print(f"  {kind:>6} N={n}: " + json.dumps(result), flush=True)
                results.append(result)
        expiry = None
        if args.expires_in:
            with SandboxProcess("--expires-in", str(args.expires_in)) as short:
                expiry = run_phase("lockit", args.expiry_n, short, Path(tmp) / "expiry", args.expiry_steady)
                print(f"  expiry N={args.expiry_n}: " + json.dumps(expiry), flush=True)
    print()
    print_table(results)
    if expiry is not None:
        lifetimes = expiry["token_age_s"] / args.expires_in
        print(
            f"\nToken expiring every {args.expires_in} s, N={args.expiry_n} LockitSensorTriggers: "
            f"{expiry['token_age_s']:.0f} s from the first token to the last event ({lifetimes:.1f} token "
            f"lifetimes): {expiry['refreshes']} refreshes, "
            f"{expiry['api_401']} x 401, {expiry['failed']} failed events of {expiry['events']}, "
            f"{expiry['store_loads']} store reads, {expiry['refreshers']} refresher(s); "
            f"longest stall {expiry['stall_max_s']:.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
