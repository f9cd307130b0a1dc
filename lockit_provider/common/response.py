"""What a ``response_check`` may see of an answer besides its body: the status and safe headers.

The headers travel in trigger events (stored in the metadata DB), so those that can carry a
credential are dropped and the others are redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockit_provider.redaction import redact

_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "set-cookie", "cookie", "www-authenticate"}
)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the response headers (lower-case names) without those that can carry credentials."""
    return {
        name.lower(): redact(value)
        for name, value in headers.items()
        if name.lower() not in _CREDENTIAL_HEADERS
    }


def response_values(status: int | None, headers: Mapping[str, str] | None) -> dict[str, Any]:
    """Return the values a ``response_check`` or ``response_filter`` may name: status and headers."""
    return {"status_code": status, "headers": dict(headers or {})}
