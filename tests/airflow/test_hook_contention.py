"""Contention without a scheduler: 8 processes x 8 threads call LockitHook.get_access_token() on an
expired token, for every refresh policy. Exactly one refresh may reach the sandbox."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.airflow.contention import race
from tests.airflow.lifecycle_helpers import connection_json, refresh_count

PROCESSES = 8
THREADS = 8


@pytest.mark.parametrize("policy", ["static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke"])
def test_one_refresh_for_64_callers(airflow_db, sandbox_factory, policy):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy=policy)
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    env = {
        "AIRFLOW_CONN_LOCKIT_DEFAULT": connection_json(
            sandbox.url,
            tokens,
            expires_at=time.time() - 1,
            token_variable=f"lockit_token__contention_{uuid.uuid4().hex[:8]}",
        ),
    }

    results = race(env, PROCESSES, THREADS)

    errors = [r for r in results if r.startswith("ERROR")]
    assert not errors
    assert len(results) == PROCESSES * THREADS
    assert len(set(results)) == 1, "callers ended with different tokens"
    assert refresh_count(sandbox) == 1
    assert sandbox.stats()["invalid_grant"] == 0
