"""The retry decision core shared by the sync (requests) and async (httpx) hooks.

It does no I/O: a hook reports what happened to an attempt and gets back how long to wait before the
next one, or ``None`` to stop. Each hook only sleeps its own way (``time.sleep``/``asyncio.sleep``).
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from lockit_provider.exceptions import LockitApiError
from lockit_provider.redaction import retry_after_seconds

RETRY_STATUSES = LockitApiError.RETRYABLE_STATUSES
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_AFTER_JITTER = 0.25  # at most this many seconds added to a server's Retry-After, to spread a herd


class Failure(enum.Enum):
    """How an attempt failed without an HTTP answer."""

    CONNECT = "connect"  # the request never left: safe to resend whatever the method
    TRANSPORT = "transport"  # sent, then the connection broke or timed out: the server may have acted


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped in retries and in total time.

    :param max_retries: Retries after the first attempt.
    :param backoff: Wait before the first retry; doubles each time (half of it is jitter).
    :param backoff_max: Longest backoff wait between two attempts.
    :param deadline: Seconds one call may take in all, attempts and waits included: no attempt runs
        past it, and a ``Retry-After`` that would end beyond it stops the retries at once.
    """

    max_retries: int = 4
    backoff: float = 0.5
    backoff_max: float = 30.0
    deadline: float = 120.0

    def __post_init__(self) -> None:
        # inf or nan would let a server's ``Retry-After: 1e9`` put a call to sleep for decades.
        for name in ("backoff", "backoff_max", "deadline"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0, not {value!r}")
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must be >= 0, not {self.max_retries!r}")

    def start(self, method: str, *, retry_non_idempotent: bool = False) -> RetryState:
        """Begin the retry bookkeeping of one call."""
        idempotent = retry_non_idempotent or method.upper() in IDEMPOTENT_METHODS
        return RetryState(self, idempotent=idempotent)


class RetryState:
    """Count one call's attempts and decide, after each failed one, whether and how long to wait."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.retries = 0
        self.stop_reason = ""
        self._clock = clock
        self._rand = rand
        self._started = clock()

    def remaining(self) -> float:
        """Return the seconds left before the call's deadline (0 once it has passed)."""
        return max(0.0, self.policy.deadline - (self._clock() - self._started))

    def elapsed(self) -> float:
        """Return the seconds since the call started."""
        return self._clock() - self._started

    def after_status(self, status: int, retry_after: str | None = None) -> float | None:
        """Return the wait before retrying an answer with ``status``, or None to keep the answer."""
        if status not in RETRY_STATUSES:
            return None
        # A 429 was refused before it was processed (RFC 6585), so even a POST may be sent again.
        if status != 429 and not self.idempotent:
            return self._stop(f"HTTP {status} to a non-idempotent request is not retried")
        asked = retry_after_seconds(retry_after, time.time())
        if asked is not None:
            return self._next(asked + self._rand() * min(RETRY_AFTER_JITTER, asked / 10))
        return self._next(self._backoff())

    def after_failure(self, failure: Failure) -> float | None:
        """Return the wait before retrying after a connection failure, or None to give up."""
        if failure is Failure.TRANSPORT and not self.idempotent:
            return self._stop("the request may have reached the server and is not idempotent")
        return self._next(self._backoff())

    def _backoff(self) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff * 2**self.retries)
        return ceiling / 2 + self._rand() * ceiling / 2

    def _next(self, wait: float) -> float | None:
        if self.retries >= self.policy.max_retries:
            return self._stop(f"gave up after {self.retries + 1} attempts")
        elapsed = self._clock() - self._started
        if elapsed + wait > self.policy.deadline:
            return self._stop(
                f"waiting {wait:.1f} s more would pass the retry deadline of {self.policy.deadline:g} s"
            )
        self.retries += 1
        return wait

    def _stop(self, reason: str) -> float | None:
        """Record why the retries end; return None, the "do not retry" answer."""
        self.stop_reason = reason
        return None
