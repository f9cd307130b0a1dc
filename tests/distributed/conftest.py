"""The distributed tier's services: a PostgreSQL database and a Redis namespace of its own, one deployment.

Redis: the broker uses database index ``BROKER_DB`` and, inside it, a key prefix and a queue unique
to the session (``global_keyprefix``). Teardown deletes only the keys under that prefix; it never
flushes a database, so other runs that share this Redis (or this index) lose nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from tests.distributed.deployment import CeleryDeployment

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BROKER_DB = 13
DAGS = Path(__file__).with_name("dags")


@pytest.fixture(scope="session")
def run_name() -> str:
    """Return a name unique to this session: the database, broker prefix and queue all carry it."""
    return f"lockit_dist_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def database(run_name: str) -> Iterator[str]:
    """Create a PostgreSQL database of the tier's own; drop it WITH (FORCE) at teardown."""
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{run_name}"')
    try:
        yield run_name
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{run_name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def broker(run_name: str) -> Iterator[dict[str, str]]:
    """Return the broker URL, key prefix and queue; delete this run's broker keys at teardown."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB)
    client.ping()
    prefix = f"{run_name}:"
    try:
        yield {
            "url": f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
            "prefix": prefix,
            "queue": run_name,
        }
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest, database: str, broker: dict[str, str]
) -> Iterator[CeleryDeployment]:
    """Start the whole CeleryExecutor deployment once per module; stop every process it started.

    Its home (component and task logs) is kept when a test failed, and its path printed.
    """
    home = Path(tempfile.mkdtemp(prefix="lockit-dist-"))
    dags = home / "dags"
    dags.mkdir()
    for dag_file in DAGS.glob("*.py"):
        shutil.copy(dag_file, dags)
    stack = CeleryDeployment(
        home / "airflow",
        dags,
        database_url=f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
        broker_url=broker["url"],
        broker_key_prefix=broker["prefix"],
        queue=broker["queue"],
    )
    try:
        started = time.monotonic()
        stack.start()
        print(f"\ndistributed deployment up in {time.monotonic() - started:.0f} s", flush=True)
        yield stack
    finally:
        stopping = time.monotonic()
        stack.stop()
        print(f"\ndistributed deployment stopped in {time.monotonic() - stopping:.0f} s")
        if request.session.testsfailed:
            print(f"\nlogs of the distributed deployment kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
