"""The cross-host locks on real services: Redis (named or the Celery broker) and PostgreSQL.

Each test uses keys of its own (a random suffix) and removes them; holders that are killed are
processes the test started itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from lockit_provider.exceptions import RefreshLockTimeout
from lockit_provider.oauth.locks import PostgresAdvisoryLock, RedisLock
from tests.support.counts import refresh_count as refresh_requests
from tests.support.oauth import expired_store, make_refresher

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lock_key() -> Iterator[str]:
    key = f"test-{uuid.uuid4().hex[:10]}"
    yield key
    redis.Redis.from_url(REDIS_URL).delete(f"lockit:refresh:{key}")


def pg_connect(application_name: str):
    return psycopg2.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", application_name=application_name
    )


def redis_lock(key: str, ttl: float = 70) -> RedisLock:
    return RedisLock.from_url(REDIS_URL, key, description="Redis 127.0.0.1:6379/0", ttl=ttl)


def start_holder(kind: str, key: str, ttl: float = 70) -> subprocess.Popen[str]:
    """Start a process that takes the lock, prints HELD and then waits to be killed."""
    code = (
        "import time\n"
        "import psycopg2\n"
        "from lockit_provider.oauth.locks import PostgresAdvisoryLock, RedisLock\n"
        f"lock = RedisLock.from_url({REDIS_URL!r}, {key!r}, description='redis', ttl={ttl})\n"
        f"if {kind!r} == 'postgres':\n"
        "    connect = lambda name: psycopg2.connect(\n"
        "        host='127.0.0.1', user='postgres', dbname='postgres', application_name=name)\n"
        f"    lock = PostgresAdvisoryLock(connect, {key!r}, description='pg')\n"
        "with lock.hold(30):\n"
        "    print('HELD', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "HELD"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_held_lock_times_out_naming_its_holder(kind, lock_key):
    holder = start_holder(kind, lock_key)
    try:
        lock = (
            redis_lock(lock_key)
            if kind == "redis"
            else PostgresAdvisoryLock(pg_connect, lock_key, description="pg")
        )
        with pytest.raises(RefreshLockTimeout) as caught, lock.hold(0.3):
            pass
        assert caught.value.holder is not None
        assert caught.value.holder.startswith(f"{socket.gethostname()}/{holder.pid} since ")
        assert caught.value.retryable
    finally:
        kill(holder)


def test_a_killed_postgres_holder_frees_the_lock_at_once(lock_key):
    holder = start_holder("postgres", lock_key)
    kill(holder)
    lock = PostgresAdvisoryLock(pg_connect, lock_key, description="pg")
    started = time.monotonic()
    with lock.hold(30):
        waited = time.monotonic() - started
    print(f"postgres: lock taken {waited:.3f} s after its holder was SIGKILLed")


def test_a_killed_redis_holder_frees_the_lock_after_its_ttl_and_the_next_holder_refreshes_once(
    sandbox, tmp_path, lock_key
):
    ttl = 3.0
    holder = start_holder("redis", lock_key, ttl=ttl)
    kill(holder)
    remaining = redis.Redis.from_url(REDIS_URL).pttl(f"lockit:refresh:{lock_key}")
    assert 0 < remaining <= ttl * 1000  # the dead holder's lock expires by itself
    store, _ = expired_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path, cross_host_lock=redis_lock(lock_key, ttl=ttl))
    started = time.monotonic()
    record = refresher.get_record()
    print(
        f"redis: lock taken {time.monotonic() - started:.3f} s after its holder was SIGKILLed (TTL {ttl} s)"
    )
    assert record.generation == 2 and refresh_requests(sandbox) == 1


def test_the_celery_broker_redis_locks_two_hosts_with_no_setting(
    sandbox_factory, tmp_path, monkeypatch, lock_key
):
    from lockit_provider.settings import settings_from_connection
    from lockit_provider.tokens.cross_host_lock import cross_host_lock

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", REDIS_URL)
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate-revoke")

    class Conn:
        conn_id = "lockit_default"
        host = sandbox.url
        login = "lockit-client"
        password = "lockit-secret"
        extra_dejson = {"token_variable": lock_key}

    lock = cross_host_lock(settings_from_connection(Conn()))
    assert lock is not None and lock.description == "Redis 127.0.0.1:6379/0 (the Celery broker)"
    store, _ = expired_store(sandbox)
    sandbox.add_fault(target="token", delay=1.0, count=1)  # a slow refresh: the window two hosts share
    hosts = [
        make_refresher(
            sandbox,
            store,
            tmp_path / f"host-{n}",
            cross_host_lock=cross_host_lock(settings_from_connection(Conn())),
        )
        for n in range(2)
    ]
    ready = threading.Barrier(len(hosts))
    tokens: list[str] = []

    def call(refresher) -> None:
        ready.wait()
        tokens.append(refresher.access_token())

    threads = [threading.Thread(target=call, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(tokens) == 2 and len(set(tokens)) == 1
    assert refresh_requests(sandbox) == 1 and sandbox.stats()["invalid_grant"] == 0


def test_without_the_broker_lock_the_same_race_spends_the_grant_twice(sandbox_factory, tmp_path):
    """The discriminating twin of the test above: host-only locks let both hosts refresh."""
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate-revoke")
    store, _ = expired_store(sandbox)
    sandbox.add_fault(target="token", delay=1.0, count=2)
    hosts = [
        make_refresher(sandbox, store, tmp_path / f"host-{n}", invalid_grant_wait=0, sleep=lambda s: None)
        for n in range(2)
    ]
    ready = threading.Barrier(len(hosts))
    outcomes: list[str] = []

    def call(refresher) -> None:
        ready.wait()
        try:
            refresher.access_token()
            outcomes.append("ok")
        except Exception as err:
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=call, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert refresh_requests(sandbox) == 2 and sandbox.stats()["invalid_grant"] == 1
