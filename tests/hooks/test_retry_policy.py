"""The retry decision core: pure decisions, no I/O."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from lockit_provider.http.retry import Failure, RetryPolicy, RetryState


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(policy: RetryPolicy, *, idempotent: bool = True, rand: float = 0.5) -> RetryState:
    return RetryState(policy, idempotent=idempotent, clock=FakeClock(), rand=lambda: rand)


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 500])
def test_answers_that_are_not_transient_are_kept(status):
    assert state(RetryPolicy()).after_status(status) is None


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    assert state(RetryPolicy()).after_status(status) is not None


def test_backoff_doubles_with_jitter_within_half_to_full_and_is_capped():
    policy = RetryPolicy(max_retries=10, backoff=1.0, backoff_max=8.0, deadline=1000)
    low = state(policy, rand=0.0)
    high = state(policy, rand=0.999999)
    assert [low.after_status(503) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [round(high.after_status(503) or 0, 3) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_retry_after_seconds_is_honoured_with_a_little_jitter_on_top():
    wait = state(RetryPolicy(), rand=1.0).after_status(429, "7")
    assert 7.0 <= wait <= 7.25


def test_retry_after_http_date_is_honoured():
    wait = state(RetryPolicy(), rand=0.0).after_status(503, formatdate(time.time() + 30, usegmt=True))
    assert 28.5 <= wait <= 30.5


def test_unreadable_retry_after_falls_back_to_backoff():
    assert state(RetryPolicy(backoff=1.0), rand=0.0).after_status(503, "soon") == 0.5


def test_retries_are_capped_in_count():
    retry = state(RetryPolicy(max_retries=2))
    assert retry.after_status(503) is not None
    assert retry.after_status(503) is not None
    assert retry.after_status(503) is None
    assert retry.stop_reason == "gave up after 3 attempts"


def test_retries_are_capped_in_total_time():
    clock = FakeClock()
    retry = RetryState(RetryPolicy(deadline=10), idempotent=True, clock=clock, rand=lambda: 0.0)
    assert retry.after_status(429, "4") == 4.0
    clock.now = 5.0
    assert retry.after_status(429, "6") is None
    assert "retry deadline of 10 s" in retry.stop_reason


def test_non_idempotent_requests_are_retried_only_when_they_were_not_processed():
    post = RetryPolicy().start("POST")
    assert post.after_status(503) is None
    assert "non-idempotent" in post.stop_reason
    assert RetryPolicy().start("POST").after_status(429) is not None  # refused before processing
    assert RetryPolicy().start("POST").after_failure(Failure.CONNECT) is not None  # never left
    assert RetryPolicy().start("POST").after_failure(Failure.TRANSPORT) is None  # may have acted


def test_the_caller_may_declare_a_post_safe_to_repeat():
    post = RetryPolicy().start("post", retry_non_idempotent=True)
    assert post.after_status(503) is not None
    assert post.after_failure(Failure.TRANSPORT) is not None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_idempotent_methods_retry_broken_connections(method):
    assert RetryPolicy().start(method).after_failure(Failure.TRANSPORT) is not None
