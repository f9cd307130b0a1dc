"""Errors of API calls: building them token-free, classifying them, and naming them for logs.

Light on purpose (no requests, no httpx): sensors and operators import it at DAG parse time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from lockit_provider.exceptions import LockitApiError
from lockit_provider.http.retry import RetryState
from lockit_provider.redaction import excerpt, redact


class _HasLog(Protocol):
    @property
    def log(self) -> Any: ...


def api_error(
    method: str,
    endpoint: str,
    status: int,
    body: str,
    *,
    secrets: Sequence[str | None] = (),
    note: str = "",
) -> LockitApiError:
    """Build a LockitApiError with the status and a short, token-free excerpt of the body."""
    text = excerpt(body, secrets)
    why = f" ({note})" if note else ""
    return LockitApiError(
        f"LockitNetwork API {method.upper()} {redact(endpoint)} failed with HTTP {status}{why}: {text}",
        status=status,
        body_excerpt=text,
    )


def unreachable_error(
    method: str, endpoint: str, api_url: str, error: Exception, state: RetryState
) -> LockitApiError:
    """Build the error for a call that got no answer, saying why it was not retried further."""
    return LockitApiError(
        f"LockitNetwork API {method} {redact(endpoint)} failed: no answer from {api_url} "
        f"({type(error).__name__}; {state.stop_reason})",
        status=None,
    )


def decode_json(content: bytes, method: str, endpoint: str, status: int) -> Any:
    """Decode a response body as JSON; an empty body is None, anything else not JSON is an error."""
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise LockitApiError(
            f"LockitNetwork API {method} {redact(endpoint)} answered HTTP {status} with a body that is "
            f"not JSON: {excerpt(content.decode('utf-8', 'replace'))}",
            status=status,
        ) from None


def log_retry(
    hook: _HasLog, method: str, endpoint: str, outcome: str, state: RetryState, wait: float
) -> None:
    """Log one retry: what happened, which retry this is and how long it waits."""
    hook.log.warning(
        "LockitNetwork %s %s: %s; retry %d of %d in %.2f s",
        method,
        redact(endpoint),
        outcome,
        state.retries,
        state.policy.max_retries,
        wait,
    )
