"""Timeouts and the retry policy of a LockitNetwork connection, read from its extras."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockit_provider.exceptions import LockitConfigError
from lockit_provider.http.retry import RetryPolicy

DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpOptions:
    """How long to wait for the API and how to retry it."""

    connect_timeout: float
    read_timeout: float
    retry: RetryPolicy

    @property
    def timeouts(self) -> tuple[float, float]:
        """Return ``(connect, read)`` as requests takes them."""
        return self.connect_timeout, self.read_timeout


def http_options_from_extras(extras: Mapping[str, Any], *, conn_id: str, read_timeout: float) -> HttpOptions:
    """Read ``connect_timeout``, ``read_timeout``, ``max_retries`` and ``retry_deadline`` from extras.

    ``read_timeout`` defaults to the connection's ``timeout``; errors name the extra and the fix.
    """
    defaults = RetryPolicy()

    def number(name: str, default: float, *, zero_ok: bool = False) -> float:
        value = extras.get(name)
        if value in (None, ""):
            return default
        try:
            result = float(value)
        except (TypeError, ValueError):
            result = -1.0
        if result < 0 or (result == 0 and not zero_ok):
            raise LockitConfigError(
                f"Connection {conn_id!r}: extra {name!r} is {value!r}; use a "
                f"{'non-negative' if zero_ok else 'positive'} number.",
                field=name,
            )
        return result

    return HttpOptions(
        connect_timeout=number("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        read_timeout=number("read_timeout", read_timeout),
        retry=RetryPolicy(
            max_retries=int(number("max_retries", defaults.max_retries, zero_ok=True)),
            deadline=number("retry_deadline", defaults.deadline),
        ),
    )
