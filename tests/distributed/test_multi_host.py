"""Many hosts, one grant (issue 8): a real CeleryExecutor deployment with two worker hosts.

Sixteen mapped tasks (split over two Celery workers that share no lock file) and three deferrable
sensors (in the triggerer) share one ``rotate-revoke`` grant whose access tokens live 8 s, for at
least six expiry windows. Reusing a rotated refresh token revokes the grant, so one cross-host
collision fails the run.

Each test prints one line (``DISTRIBUTED <config>: ...``) with tasks, refreshes/windows,
invalid_grant and wall time; run with ``-s`` (``make test-distributed`` does) to see them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.distributed.conftest import PG_HOST, PG_PORT, PG_USER
from tests.distributed.dags.lockit_distributed import TASKS
from tests.distributed.deployment import CeleryDeployment
from tests.distributed.processes import Component
from tests.distributed.scenario import (
    DAG_ID,
    FINISHED,
    MAPPED_TASK,
    SANDBOX_FLAGS,
    RunResult,
    log_lines,
    refreshes,
    run_dag,
    write_connections,
)
from tests.e2e.sandbox_process import SandboxProcess
from tests.support.connections import free_port
from tests.support.leaks import assert_no_token_in

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1200)]


@pytest.fixture
def sandbox(deployment: CeleryDeployment) -> Iterator[SandboxProcess]:
    """Run a fresh sandbox for one configuration; give it a triggerer that has never seen another grant."""
    if deployment.configs_run:
        deployment.restart_triggerer()
    deployment.configs_run += 1
    with SandboxProcess(*SANDBOX_FLAGS) as process:
        yield process


class LockRedis:
    """A redis-server of the test's own, to be stopped while tasks refresh and started again."""

    def __init__(self, deployment: CeleryDeployment) -> None:
        self.port = free_port()
        self.deployment = deployment
        self.server: Component | None = None
        self.starts = 0

    @property
    def connection(self) -> dict[str, Any]:
        """Return the Airflow connection (type redis) that names this server."""
        return {"conn_type": "redis", "host": "127.0.0.1", "port": self.port, "extra": {"db": 0}}

    def start(self) -> None:
        """Start the server (no persistence) and wait until it answers PING."""
        self.starts += 1
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        log = self.deployment.home / "components" / f"lock-redis-{self.starts}.log"
        self.server = Component("lock-redis", argv, {}, log).start()
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            self.deployment.wait_until(answers, 30, "the lock's redis-server")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server's process group."""
        if self.server is not None:
            self.server.stop(grace=5)


@pytest.fixture
def lock_redis(deployment: CeleryDeployment) -> Iterator[LockRedis]:
    """Start the lock's redis-server; stop it at teardown whatever happened."""
    server = LockRedis(deployment)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def assert_shared_grant_held(result: RunResult, deployment: CeleryDeployment) -> None:
    """Assert issue 8's Done-when: all tasks succeed, no invalid_grant, <= windows + 1 refreshes."""
    assert result.state == "success", result.states()
    assert result.ok(MAPPED_TASK) == TASKS and result.ok() == len(result.instances), result.states()
    assert result.deferred, "no sensor waited in the triggerer"
    assert result.invalid_grant == 0, result.summary()
    assert not result.grant["revoked"], result.summary()
    assert 1 <= result.refreshes <= result.windows + 1, result.summary()
    assert result.variable_holds_current, (
        "the Variable does not hold the refresh token the sandbox considers current"
    )
    assert_no_token_in([deployment.all_logs(), json.dumps(result.status)], result.stats["issued_tokens"])


def test_default_connection_shares_one_grant(deployment, sandbox):
    """A connection as a user creates it (no lock settings): the broker's Redis must keep it safe."""
    write_connections(deployment, sandbox, {})
    result = run_dag("default-connection", deployment, sandbox)
    print(f"\n{result.summary()}")
    assert_shared_grant_held(result, deployment)


def test_postgres_lock_by_conn_id_shares_one_grant(deployment, sandbox, database):
    """``lock_conn_id`` names a postgres connection: an advisory lock instead of the broker auto-lock."""
    lock_pg = {
        "conn_type": "postgres",
        "host": PG_HOST,
        "port": PG_PORT,
        "login": PG_USER,
        "schema": database,
    }
    write_connections(deployment, sandbox, {"lock_conn_id": "lockit_lock_pg"}, {"lockit_lock_pg": lock_pg})
    result = run_dag("postgres-lock_conn_id", deployment, sandbox)
    print(f"\n{result.summary()}")
    assert_shared_grant_held(result, deployment)


def test_lock_outage_fails_closed(deployment, sandbox, lock_redis):
    """The named Redis lock goes down while tasks refresh: no refresh token spent, a retryable error."""
    write_connections(
        deployment,
        sandbox,
        {"lock_conn_id": "lockit_lock_redis"},
        {"lockit_lock_redis": lock_redis.connection},
    )
    outage: dict[str, Any] = {}

    def steer(instances: list[dict[str, Any]]) -> None:
        mapped = [ti for ti in instances if ti["task_id"] == MAPPED_TASK and ti.get("map_index", -1) >= 0]
        done = len(mapped) == TASKS and all(ti["state"] in FINISHED for ti in mapped)
        if "stopped" not in outage and (refreshes(sandbox) >= 2 or done):
            outage["running_at_stop"] = sum(1 for ti in mapped if ti["state"] == "running")
            lock_redis.stop()
            outage["stopped"] = time.monotonic()
            outage["refreshes_at_stop"] = refreshes(sandbox)
        elif "stopped" in outage and "restarted" not in outage and done:
            outage["refreshes_during"] = refreshes(sandbox) - outage["refreshes_at_stop"]
            outage["lasted"] = time.monotonic() - outage["stopped"]
            lock_redis.start()  # the sensors in the triggerer can finish once the lock is back
            outage["restarted"] = True

    result = run_dag("lock-outage", deployment, sandbox, on_poll=steer)
    task_logs = deployment.task_logs(DAG_ID, result.run_id, MAPPED_TASK)
    lock_errors = [line for text in task_logs.values() for line in log_lines(text, "LockUnavailable")]
    names_lock = [line for line in lock_errors if "lockit_lock_redis" in line or str(lock_redis.port) in line]
    print(
        f"\n{result.summary()}; outage: lock down while {outage.get('running_at_stop')} tasks ran, "
        f"{outage.get('refreshes_during')} refreshes during {outage.get('lasted', 0):.0f} s down, "
        f"{len(lock_errors)} LockUnavailable log lines ({len(names_lock)} name the lock)"
    )
    assert outage.get("running_at_stop"), "the lock went down when no task was running"
    assert result.invalid_grant == 0, result.summary()
    assert not result.grant["revoked"], result.summary()
    assert outage.get("refreshes_during") == 0, "a refresh token was spent while the lock was down"
    assert names_lock, "no task log names the unavailable lock (LockUnavailable with its connection or port)"
    assert result.variable_holds_current, (
        "the Variable does not hold the refresh token the sandbox considers current"
    )
    assert_no_token_in([deployment.all_logs(), json.dumps(result.status)], result.stats["issued_tokens"])


def test_without_cross_host_lock_hosts_are_warned(deployment, sandbox):
    """Opt out of the broker auto-lock (``cross_host_lock: off``): the bug of issue 8, and its warning.

    Nothing then keeps two hosts from spending the same refresh token; whether this run is locked out
    is chance, so only the warning (each host names the other) and the status are asserted; the summary
    line says what happened.
    """
    write_connections(deployment, sandbox, {"cross_host_lock": "off"})
    result = run_dag("cross_host_lock-off", deployment, sandbox, duration=30)
    logs = deployment.all_logs()
    warnings = log_lines(logs, "no cross-host lock is in force")
    print(f"\n{result.summary()}; unlocked-hosts warnings {len(warnings)}")
    assert warnings, "no process warned that hosts refresh without a cross-host lock"
    assert result.lock.startswith("host-only"), result.lock
    assert_no_token_in([logs, json.dumps(result.status)], result.stats["issued_tokens"])
