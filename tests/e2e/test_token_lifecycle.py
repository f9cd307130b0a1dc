"""Real Airflow (scheduler + LocalExecutor + triggerer), not `dags test`: one grant, many users.

The sandbox rotates refresh tokens and revokes the whole grant if an old one is reused, with access
tokens living a few seconds: a single double-spent refresh token would fail the run.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import AirflowStack
from tests.support.connections import connection_json
from tests.support.leaks import assert_no_token_in

pytestmark = pytest.mark.e2e

EXPIRES_IN = 8
DURATION = 30
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess("--refresh-policy", "rotate-revoke", "--expires-in", str(EXPIRES_IN)) as sb:
        yield sb


def test_parallel_tasks_and_a_trigger_share_one_rotating_grant(sandbox, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(Path(__file__).with_name("dags") / "token_lifecycle.py", dags)
    tokens = sandbox.issue_tokens()
    started = time.time()
    env = {
        "AIRFLOW_CONN_LOCKIT_DEFAULT": connection_json(sandbox.url, tokens, expires_at=started + EXPIRES_IN),
        "PYTHONPATH": str(REPO),
        "LOCKIT_E2E_DURATION": str(DURATION),
    }
    with AirflowStack(tmp_path / "home", dags, env) as stack:
        state = stack.run_dag("lockit_token_lifecycle", timeout=420)
        run_id = stack.last_run_id
        instances = stack.task_instances("lockit_token_lifecycle", run_id)
        variable = stack.airflow("variables", "get", "lockit_token__lockit_default").stdout
        xcoms = stack.xcom_values("lockit_token_lifecycle", run_id)
        logs = stack.all_logs()
    elapsed = time.time() - started

    assert state == "success", [(ti["task_id"], ti.get("map_index"), ti["state"]) for ti in instances]
    assert len(instances) == 9 and all(ti["state"] == "success" for ti in instances)
    assert any(ti["task_id"] == "from_triggerer" for ti in instances)
    stats = sandbox.stats()
    refreshes = stats["token_requests"].get("refresh_token", 0)
    windows = math.ceil(elapsed / EXPIRES_IN)
    print(
        f"elapsed {elapsed:.0f} s, {windows} expiry windows, {refreshes} refreshes, "
        f"api {stats['api_requests']}"
    )
    assert stats["invalid_grant"] == 0
    assert 1 <= refreshes <= windows + 1
    (grant,) = stats["grants"]
    assert not grant["revoked"]
    holds_current = grant["current_refresh_token"] in variable
    assert holds_current, "the Variable does not hold the refresh token the sandbox considers current"
    scanned = assert_no_token_in([logs, *xcoms], stats["issued_tokens"])
    assert scanned >= 2 and "Refreshed the token" in logs
