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

from tests.airflow.lifecycle_helpers import connection_json

pytestmark = pytest.mark.services

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/0"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
HOSTS = ("host-a", "host-b")
PROCESSES_PER_HOST = 4


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


def run_workers(env: dict[str, str], connection_for_host: dict[str, str]) -> list[str]:
    start_at = time.time() + 6  # every worker has imported Airflow and read its connection by then
    procs = []
    for host in HOSTS:
        for _ in range(PROCESSES_PER_HOST):
            worker_env = {**env, "AIRFLOW_CONN_LOCKIT_DEFAULT": connection_for_host[host]}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.airflow.token_worker", str(start_at), "1"],
                    env=worker_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        (line,) = [x for x in out.splitlines() if x.startswith("RESULTS ")]  # Airflow logs to stdout too
        outputs.extend(line.split()[1:])
    return outputs


def test_redis_lock_makes_refresh_single_flight_across_hosts(postgres_home, sandbox_factory, tmp_path):
    redis.Redis.from_url(REDIS_URL).ping()
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    connections = {
        host: connection_json(
            sandbox.url,
            tokens,
            expires_at=time.time() - 1,
            state_dir=str(tmp_path / host),
            lock_url=REDIS_URL,
            token_variable=f"lockit_token__{uuid.uuid4().hex[:8]}",
        )
        for host in HOSTS
    }
    # Both hosts must name the same Variable.
    variable = connections[HOSTS[0]].split('"token_variable": "')[1].split('"')[0]
    connections[HOSTS[1]] = connections[HOSTS[1]].replace(
        connections[HOSTS[1]].split('"token_variable": "')[1].split('"')[0], variable
    )
    env = {**postgres_home, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # A slow token endpoint (1 s per refresh) opens the window in which two hosts would collide.
    sandbox.add_fault(target="token", delay=1.0, count=2)

    hashes = run_workers(env, connections)

    stats = sandbox.stats()
    assert len(hashes) == len(HOSTS) * PROCESSES_PER_HOST
    assert len(set(hashes)) == 1
    assert stats["token_requests"]["refresh_token"] == 1
    assert stats["invalid_grant"] == 0
    value = subprocess.run(
        [AIRFLOW, "variables", "get", variable], env=env, capture_output=True, text=True, check=True
    ).stdout
    holds_current = sandbox.current_refresh_token() in value
    assert holds_current, "the PostgreSQL Variable does not hold the current refresh token"
