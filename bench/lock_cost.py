"""What a cross-host refresh lock costs per refresh: take and release it, interleaved in one run.

Compares the host-only file lock (always taken) with it plus a Redis lock and plus a PostgreSQL
advisory lock, on the services at 127.0.0.1. A refresh takes the lock once, so these figures are the
whole added cost per refresh (tokens are refreshed minutes or days apart, not per API call).

    python bench/lock_cost.py [rounds]
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import redis
from filelock import FileLock

from lockit_provider.oauth.locks import PostgresAdvisoryLock, RedisLock

REDIS_URL = "redis://127.0.0.1:6379/0"


def pg_connect(application_name: str):
    return psycopg2.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", application_name=application_name
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    key = f"bench-{uuid.uuid4().hex[:8]}"
    lock_path = Path(tempfile.mkdtemp(prefix="lockit-bench-")) / "k.lock"
    redis_lock = RedisLock.from_url(REDIS_URL, key, description="redis")
    pg_lock = PostgresAdvisoryLock(pg_connect, key, description="pg")

    @contextlib.contextmanager
    def file_only() -> Iterator[None]:
        with FileLock(lock_path, timeout=10):
            yield

    @contextlib.contextmanager
    def with_redis() -> Iterator[None]:
        with file_only(), redis_lock.hold(10):
            yield

    @contextlib.contextmanager
    def with_postgres() -> Iterator[None]:
        with file_only(), pg_lock.hold(10):
            yield

    variants: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
        "file lock (host-only)": file_only,
        "file + Redis lock": with_redis,
        "file + PostgreSQL advisory lock": with_postgres,
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():  # interleaved: machine noise hits every variant alike
            started = time.perf_counter()
            with variant():
                pass
            samples[name].append((time.perf_counter() - started) * 1000)
    redis.Redis.from_url(REDIS_URL).delete(f"lockit:refresh:{key}")
    base = statistics.median(samples["file lock (host-only)"])
    print(f"{rounds} rounds, interleaved; milliseconds per refresh for taking and releasing the locks")
    print(f"{'variant':34} {'median':>8} {'p90':>8} {'added':>8}")
    for name, values in samples.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        print(f"{name:34} {median:8.3f} {p90:8.3f} {median - base:8.3f}")


if __name__ == "__main__":
    main()
