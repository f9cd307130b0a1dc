"""Errors of API calls: building them token-free, classifying them, and naming them for logs.

Light on purpose (no requests, no httpx): sensors and operators import it at DAG parse time.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from lockit_provider.exceptions import LockitApiError, LockitConfigError
from lockit_provider.http.retry import RetryState
from lockit_provider.redaction import excerpt, redact


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


def log_retry(log: Any, method: str, endpoint: str, outcome: str, state: RetryState, wait: float) -> None:
    """Log one retry: what happened, which retry this is and how long it waits."""
    log.warning(
        "LockitNetwork %s %s: %s; retry %d of %d in %.2f s",
        method,
        redact(endpoint),
        outcome,
        state.retries,
        state.policy.max_retries,
        wait,
    )


def tls_error(error: BaseException) -> ssl.SSLError | None:
    """Return the TLS failure behind an HTTP library's error, or None when there is none or it is transient.

    A closed connection during the handshake (EOF) can pass; a refused certificate, protocol or cipher
    does not, so retrying it only delays the person who must fix the configuration.
    """
    for cause in error_chain(error):
        if isinstance(cause, ssl.SSLError):
            return None if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) else cause
    return None


def tls_config_error(url: str, error: ssl.SSLError, ca_bundle: str | None) -> LockitConfigError:
    """Build the error for a TLS failure: the host, the verify error, and the ``ca_bundle`` extra."""
    host = urlsplit(url).netloc.rpartition("@")[2]
    reason = getattr(error, "verify_message", None) or error.reason or type(error).__name__
    bundle = f"The extra 'ca_bundle' is {ca_bundle!r}" if ca_bundle else "The extra 'ca_bundle' is not set"
    return LockitConfigError(
        f"TLS with {host} failed: {reason} ({type(error).__name__}). {bundle}: if the server's certificate "
        "comes from a private CA, set 'ca_bundle' in the connection to the path of its PEM CA bundle.",
        field="ca_bundle",
    )


def error_chain(error: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """Yield ``error`` and what caused it: ``__cause__``, ``__context__``, urllib3's ``reason``, args."""
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < depth * 4:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))
