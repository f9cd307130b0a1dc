"""Refresh contention: many processes and threads find the token expired at the same instant.

For each refresh policy a sandbox runs as a separate process (``python -m lockit_provider.sandbox``).
The token record in a FileStore is made expired, then PROCESSES x THREADS callers, released together
by one barrier, each ask a fresh-per-process Refresher for an access token (shared lock directory).
Expected: exactly one refresh request reaches the sandbox, no caller fails, all get the same token,
and that token opens ``GET /projects``.

Run: ``.venv/bin/python bench/refresh_contention.py [--processes 8] [--threads 8]``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import FileStore
from lockit_provider.oauth.token import TokenRecord, current_actor

POLICIES = ("static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke")
CLIENT_ID, CLIENT_SECRET = "lockit-client", "lockit-secret"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
KEY = "contention"
START_TIMEOUT = 20.0  # seconds for the sandbox to print its URL
RUN_TIMEOUT = 90.0  # seconds for all callers of one policy to finish


@dataclasses.dataclass
class ContentionResult:
    """What one policy's run measured."""

    policy: str
    callers: int
    refresh_requests: int
    invalid_grant: int
    errors: list[str]
    distinct_tokens: int
    api_status: int | None
    seconds: float  # wall time including starting the processes
    slowest_caller: float  # from the barrier's release to the caller holding its token

    @property
    def ok(self) -> bool:
        """Return whether the run met every expectation."""
        return (
            self.refresh_requests == 1
            and self.invalid_grant == 0
            and not self.errors
            and self.distinct_tokens == 1
            and self.api_status == 200
        )


@contextlib.contextmanager
def sandbox_process(policy: str, log_dir: Path) -> Iterator[str]:
    """Run the sandbox CLI with ``policy`` on 127.0.0.1 and yield its base URL."""
    stderr_path = log_dir / "sandbox.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockit_provider.sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--refresh-policy",
                policy,
                "--auto-approve",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    killer = threading.Timer(START_TIMEOUT, process.kill)  # a sandbox that never answers cannot hang us
    killer.start()
    try:
        url = None
        for line in process.stdout or ():
            if line.startswith("LOCKIT_SANDBOX_URL="):
                url = line.strip().partition("=")[2]
                break
        killer.cancel()
        if url is None:
            raise RuntimeError(f"the sandbox did not start: {stderr_path.read_text(errors='replace')[-500:]}")
        yield url
    finally:
        killer.cancel()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def client_config(url: str) -> OAuthClientConfig:
    """Return the client configuration for a sandbox at ``url``."""
    return OAuthClientConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{url}/oauth/authorize",
        token_url=f"{url}/oauth/access-token",
        redirect_uri=REDIRECT_URI,
        timeout=10.0,
    )


def expired_record(url: str) -> TokenRecord:
    """Run a grant in the sandbox, expire its access token there, and return it as an expired record."""
    payload = requests.post(f"{url}/_sandbox/issue-tokens", timeout=10).json()
    requests.post(f"{url}/_sandbox/expire", timeout=10).raise_for_status()
    record = TokenRecord.from_token_response(
        payload, previous=None, now=time.time(), obtained_by=current_actor()
    )
    return dataclasses.replace(record, expires_at=time.time() - 60)


def sandbox_stats(url: str) -> dict[str, Any]:
    """Return the sandbox's counters."""
    stats: dict[str, Any] = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return stats


def caller_process(
    config: OAuthClientConfig, store_path: Path, lock_dir: Path, threads: int, barrier: Any, results: Any
) -> None:
    """Ask one fresh Refresher for a token from ``threads`` threads released by the shared barrier."""
    refresher = Refresher(
        OAuthClient(config),
        FileStore(store_path),
        key=KEY,
        bootstrap=None,
        lock_dir=lock_dir,
        journal=None,
        reauth_command="(benchmark: start again)",
    )
    outcomes: list[tuple[str, str, float]] = []

    def call() -> None:
        try:
            barrier.wait()
            released = time.perf_counter()
            token = refresher.access_token()
            outcomes.append(("token", token, time.perf_counter() - released))
        except Exception as exc:
            outcomes.append(("error", f"{type(exc).__name__}: {exc}", 0.0))

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(outcomes)


def run_policy(policy: str, workdir: Path, *, processes: int = 8, threads: int = 8) -> ContentionResult:
    """Measure one policy: start its sandbox, expire the token, release every caller at once."""
    workdir.mkdir(parents=True, exist_ok=True)
    with sandbox_process(policy, workdir) as url:
        config = client_config(url)
        store_path = workdir / "token.json"
        FileStore(store_path).save(expired_record(url))
        context = multiprocessing.get_context("spawn")  # no inherited locks or sockets
        barrier = context.Barrier(processes * threads, timeout=RUN_TIMEOUT / 2)
        results = context.Queue()
        started = time.perf_counter()
        children = [
            context.Process(
                target=caller_process, args=(config, store_path, workdir / "locks", threads, barrier, results)
            )
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        outcomes: list[tuple[str, str, float]] = []
        try:
            for _ in children:
                outcomes.extend(results.get(timeout=RUN_TIMEOUT))
        finally:
            for child in children:
                child.join(timeout=10)
                if child.is_alive():
                    child.kill()
        seconds = time.perf_counter() - started
        tokens = {value for kind, value, _ in outcomes if kind == "token"}
        stats = sandbox_stats(url)
        api_status = None
        if len(tokens) == 1:
            api_status = requests.get(
                f"{url}/projects", headers={"Authorization": f"Bearer {next(iter(tokens))}"}, timeout=10
            ).status_code
    return ContentionResult(
        policy=policy,
        callers=len(outcomes),
        refresh_requests=int(stats["token_requests"].get("refresh_token", 0)),
        invalid_grant=int(stats["invalid_grant"]),
        errors=[value for kind, value, _ in outcomes if kind == "error"],
        distinct_tokens=len(tokens),
        api_status=api_status,
        seconds=seconds,
        slowest_caller=max((elapsed for _, _, elapsed in outcomes), default=0.0),
    )


def main() -> int:
    """Run every policy and print one line of counts per policy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--policy", action="append", choices=POLICIES, help="run only these (repeatable)")
    args = parser.parse_args()
    print(f"{args.processes} processes x {args.threads} threads per policy, one barrier")
    print(
        f"{'policy':<16}{'callers':>8}{'refreshes':>10}{'inv_grant':>10}{'errors':>7}{'tokens':>7}"
        f"{'api':>5}{'seconds':>9}{'slowest_ms':>11}"
    )
    failed = False
    with tempfile.TemporaryDirectory(prefix="lockit-contention-") as tmp:
        for policy in args.policy or POLICIES:
            result = run_policy(
                policy, Path(tmp) / policy.replace(":", "-"), processes=args.processes, threads=args.threads
            )
            failed |= not result.ok
            print(
                f"{policy:<16}{result.callers:>8}{result.refresh_requests:>10}{result.invalid_grant:>10}"
                f"{len(result.errors):>7}{result.distinct_tokens:>7}{result.api_status or '-':>5}"
                f"{result.seconds:>9.2f}{result.slowest_caller * 1000:>11.1f}"
                + ("" if result.ok else "  FAIL"),
                flush=True,
            )
            for error in result.errors[:3]:
                print(f"    {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
