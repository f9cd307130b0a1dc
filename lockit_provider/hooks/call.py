"""One API call's decisions, shared by the sync and async hooks: retries, deadline, errors, log line.

Sans-I/O: a hook sends each attempt its own way (requests or httpx) and reports what happened here. It
gets back how long to wait before the next attempt, or the end of the call: the answer, logged in one
INFO line, or the error to raise. So both hooks behave alike by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, NoReturn

from lockit_provider.exceptions import LockitApiError
from lockit_provider.hooks.errors import api_error, log_retry, tls_config_error, tls_error, unreachable_error
from lockit_provider.http.retry import Failure, RetryPolicy
from lockit_provider.redaction import excerpt, redact
from lockit_provider.settings import LockitSettings


class ApiCall:
    """Decide, attempt after attempt, how one call to the API goes on; log its outcome once.

    :param log: The hook's logger (stdlib or Airflow's structlog one).
    :param settings: The connection's settings (API URL, CA bundle, tokens to scrub).
    :param policy: The retry policy; its ``deadline`` bounds the whole call, waits included.
    :param log_level: Level of the per-call line (INFO in tasks; a poller may choose DEBUG).
    :param log_response: Also log a short, token-free excerpt of the response body.
    :param accept_statuses: Non-2xx statuses that are answers, not errors (a sensor's "not yet"):
        nothing is quoted or raised for them, which a poller pays for on every poll otherwise.
    """

    def __init__(
        self,
        log: Any,
        settings: LockitSettings,
        policy: RetryPolicy,
        method: str,
        endpoint: str,
        *,
        retry_non_idempotent: bool = False,
        log_level: int = logging.INFO,
        log_response: bool = False,
        accept_statuses: Collection[int] = (),
    ) -> None:
        self.method = method.upper()
        self.endpoint = endpoint
        self.url = f"{settings.api_url}/{endpoint.lstrip('/')}"
        self.retry = policy.start(self.method, retry_non_idempotent=retry_non_idempotent)
        self._log = log
        self._settings = settings
        self._log_level = log_level
        self._log_response = log_response
        self._accept_statuses = accept_statuses

    def remaining(self) -> float:
        """Return how long the next attempt may take before the call's deadline."""
        return self.retry.remaining()

    def after_answer(self, status: int, headers: Mapping[str, str]) -> float | None:
        """Return the wait before resending after this answer, or None when it is the call's answer."""
        wait = self.retry.after_status(status, headers.get("Retry-After"))
        if wait is not None:
            self._log_retry(f"HTTP {status}", wait)
        return wait

    def after_error(self, error: Exception, failure: Failure) -> float:
        """Return the wait before the next attempt after ``error``; raise the call's error if none.

        TLS failures are configuration errors: they are raised at once, never retried.
        """
        tls = tls_error(error)
        if tls is not None:
            raise tls_config_error(self.url, tls, self._settings.ca_bundle) from None
        wait = self.retry.after_failure(failure)
        if wait is None:
            raise unreachable_error(self.method, self.endpoint, self._settings.api_url, error, self.retry)
        self._log_retry(type(error).__name__, wait)
        return wait

    def out_of_time(self) -> NoReturn:
        """Raise the error of a call whose deadline passed while an attempt was still waiting."""
        raise LockitApiError(
            f"LockitNetwork API {self.method} {redact(self.endpoint)} failed: no complete answer from "
            f"{self._settings.api_url} within the call's deadline of {self.retry.policy.deadline:g} s "
            f"({self.retry.retries} retries)",
            status=None,
        )

    def finish(self, status: int, size: int | None, sent_token: str, text: Callable[[], str]) -> None:
        """Log the call's line; raise LockitApiError (token-free) for a non-2xx answer not accepted.

        ``text`` is only called when the body is logged or quoted in the error.
        """
        if self._log.isEnabledFor(self._log_level):
            self._log.log(
                self._log_level,
                "LockitNetwork %s %s: HTTP %d, %s bytes in %.0f ms, %d retries",
                self.method,
                redact(self.endpoint),
                status,
                "?" if size is None else size,
                self.retry.elapsed() * 1000,
                self.retry.retries,
            )
        secrets = (sent_token, self._settings.bootstrap.access_token, self._settings.bootstrap.refresh_token)
        if self._log_response:
            self._log.info("LockitNetwork response body: %s", excerpt(text(), secrets, limit=2000))
        if not 200 <= status < 300 and status not in self._accept_statuses:
            raise api_error(
                self.method, self.endpoint, status, text(), secrets=secrets, note=self.retry.stop_reason
            )

    def _log_retry(self, outcome: str, wait: float) -> None:
        log_retry(self._log, self.method, self.endpoint, outcome, self.retry, wait)


def sent_token(headers: Mapping[str, str]) -> str:
    """Return the bearer token a request was sent with (to scrub it from what is logged or raised)."""
    return (headers.get("Authorization") or "").partition(" ")[2]


def response_size(content: bytes | None, headers: Mapping[str, str]) -> int | None:
    """Return the body's size: what was read, else what Content-Length announces, else None."""
    if content is not None:
        return len(content)
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None
