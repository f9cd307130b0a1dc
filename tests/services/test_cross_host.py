"""Two hosts (no shared file system), one grant: the Redis lock keeps refreshes single-flight.

The token store is the Airflow Variable in a PostgreSQL metadata DB, written through the ORM by
plain worker processes, as a deployment's CLI or scripts would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from tests.support.connections import connection_json, new_conn_id
from tests.support.contention import ContentionWorkers, assert_released_together, race

pytestmark = pytest.mark.services

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/0"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
HOSTS = ("host-a", "host-b")
PROCESSES_PER_HOST = 4
REFRESH_SECONDS = 4.0


@pytest.fixture(scope="module")
def postgres_home() -> Iterator[dict[str, str]]:
    db = f"lockit_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    home = tempfile.mkdtemp(prefix="lockit-pg-")
    env = {
        **os.environ,
        "AIRFLOW_HOME": home,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG.format(db=db),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    try:
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        yield env
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


def test_redis_lock_makes_refresh_single_flight_across_hosts(postgres_home, sandbox_factory, tmp_path):
    redis.Redis.from_url(REDIS_URL).ping()
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    conn_id, variable = new_conn_id(), f"lockit_token__{uuid.uuid4().hex[:8]}"
    expires_at = time.time() - 1  # once: every host must see the same Connection tokens
    connections = {
        host: connection_json(
            sandbox.url,
            tokens,
            expires_at=expires_at,
            state_dir=str(tmp_path / host),  # no shared file system: the file lock cannot help
            lock_url=REDIS_URL,
            token_variable=variable,
        )
        for host in HOSTS
    }
    # A slow token endpoint holds the one refresh open: every caller must ask within that window.
    sandbox.add_fault(target="token", delay=REFRESH_SECONDS, count=2)
    workers = {host: ContentionWorkers(PROCESSES_PER_HOST, postgres_home) for host in HOSTS}
    try:
        attempts = race([(workers[host], conn_id, connections[host]) for host in HOSTS], threads=1)
    finally:
        for group in workers.values():
            group.close()

    stats = sandbox.stats()
    assert [attempt.error for attempt in attempts if attempt.error] == []
    assert len(attempts) == len(HOSTS) * PROCESSES_PER_HOST
    assert_released_together(attempts, REFRESH_SECONDS)
    assert len({attempt.token for attempt in attempts}) == 1
    assert stats["token_requests"]["refresh_token"] == 1
    assert stats["invalid_grant"] == 0
    value = subprocess.run(
        [AIRFLOW, "variables", "get", variable], env=postgres_home, capture_output=True, text=True, check=True
    ).stdout
    holds_current = sandbox.current_refresh_token() in value
    assert holds_current, "the PostgreSQL Variable does not hold the current refresh token"
