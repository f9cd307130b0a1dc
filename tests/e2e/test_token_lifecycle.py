"""Real Airflow (scheduler + LocalExecutor + triggerer), not `dags test`: one grant, many users.

The sandbox rotates refresh tokens and revokes the whole grant if an old one is reused, with access
tokens living a few seconds: a single double-spent refresh token would fail the run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from lockit_provider.settings import token_variable_name
from tests.e2e.lifecycle_trigger import CONN_ID, EXPIRES_IN
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import AirflowStack
from tests.support.leaks import assert_no_token_in

pytestmark = pytest.mark.e2e

DAG_ID = "lockit_token_lifecycle"
DAG_FILE = Path(__file__).with_name("dags") / "token_lifecycle.py"


def test_parallel_tasks_and_a_trigger_share_one_rotating_grant(
    airflow_stack: AirflowStack, lifecycle_sandbox: SandboxProcess
) -> None:
    stack = airflow_stack
    stack.add_dags({"token_lifecycle.py": DAG_FILE.read_text()})
    started = time.time()

    state = stack.run_dag(DAG_ID)

    elapsed = time.time() - started
    run_id = stack.last_run_id
    instances = stack.task_instances(DAG_ID, run_id)
    variable = stack.airflow("variables", "get", token_variable_name(CONN_ID)).stdout
    xcoms = stack.xcom_values(DAG_ID, run_id)
    logs = stack.dag_logs(DAG_ID)
    assert state == "success", [(ti["task_id"], ti.get("map_index"), ti["state"]) for ti in instances]
    assert len(instances) == 9 and all(ti["state"] == "success" for ti in instances)
    assert any(ti["task_id"] == "from_triggerer" for ti in instances)
    stats = lifecycle_sandbox.stats()
    refreshes = stats["token_requests"].get("refresh_token", 0)
    # The connection's access token expired before the run (the stack started earlier): one refresh
    # for that, then at most one per expiry window.
    windows = math.ceil(elapsed / EXPIRES_IN)
    print(f"elapsed {elapsed:.0f} s, {windows} windows, {refreshes} refreshes, api {stats['api_requests']}")
    assert stats["invalid_grant"] == 0
    assert 1 <= refreshes <= windows + 1
    (grant,) = stats["grants"]
    assert not grant["revoked"]
    holds_current = grant["current_refresh_token"] in variable
    assert holds_current, "the Variable does not hold the refresh token the sandbox considers current"
    scanned = assert_no_token_in([stack.all_logs(), *xcoms], stats["issued_tokens"])
    assert scanned >= 2 and "Refreshed the token" in logs
