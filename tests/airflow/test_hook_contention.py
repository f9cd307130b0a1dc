"""Contention without a scheduler: 8 processes x 8 threads call LockitHook.get_access_token() on an
expired token, for every refresh policy. Exactly one refresh may reach the sandbox.

The callers wait at one gate that opens only when all 64 are at it, and the one refresh is slowed, so
every caller must ask while it is in flight; the test checks that they did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.connections import connection_json, new_conn_id
from tests.support.contention import Attempt, ContentionWorkers, assert_released_together, race
from tests.support.counts import refresh_count

# The first test also pays for starting eight workers that import Airflow: minutes on a busy machine.
pytestmark = pytest.mark.timeout(600)

PROCESSES = 8
THREADS = 8
REFRESH_SECONDS = 4.0  # how long the token endpoint holds the one refresh: callers ask within half


@pytest.fixture(scope="module")
def workers(airflow_db: object) -> Iterator[Callable[[], ContentionWorkers]]:
    """Return running workers (started once for the module; again after a round that failed)."""
    started: list[ContentionWorkers] = []

    def running() -> ContentionWorkers:
        if not started or not started[-1].alive:
            started.append(ContentionWorkers(PROCESSES))
        return started[-1]

    yield running
    for group in started:
        group.close()


@pytest.mark.parametrize("policy", ["static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke"])
def test_one_refresh_for_64_callers(workers, sandbox_factory, policy):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy=policy)
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    connection = connection_json(sandbox.url, tokens, expires_at=time.time() - 1)
    sandbox.add_fault(target="token", delay=REFRESH_SECONDS)

    attempts = race([(workers(), new_conn_id(), connection)], THREADS)

    assert [attempt.error for attempt in attempts if attempt.error] == []
    assert len(attempts) == PROCESSES * THREADS
    assert_released_together(attempts, REFRESH_SECONDS)
    assert len({attempt.token for attempt in attempts}) == 1, "callers ended with different tokens"
    assert refresh_count(sandbox) == 1
    assert sandbox.stats()["invalid_grant"] == 0


def test_the_check_fails_callers_that_were_not_released_together():
    """Callers that start one after another (as with a start time on the clock) fail the check."""
    together = [Attempt(asked=0.02 * i, got=4.5 + 0.02 * i, token="t") for i in range(8)]
    one_by_one = [Attempt(asked=float(i), got=4.5 + i, token="t") for i in range(8)]
    # As measured with the gate left open on a busy machine: every request before the first answer,
    # but spread over 4 s as the processes came up.
    as_they_came_up = [Attempt(asked=0.6 * i, got=8.0, token="t") for i in range(8)]
    unslowed = [Attempt(asked=0.0, got=0.2, token="t")]

    assert_released_together(together, REFRESH_SECONDS)
    for attempts in (one_by_one, as_they_came_up):
        with pytest.raises(AssertionError, match="not released together"):
            assert_released_together(attempts, REFRESH_SECONDS)
    with pytest.raises(AssertionError, match="would prove nothing"):
        assert_released_together(unslowed, REFRESH_SECONDS)
