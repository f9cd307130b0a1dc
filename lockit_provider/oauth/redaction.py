"""Make server-supplied text safe for messages, and read ``Retry-After``."""

from __future__ import annotations

import re
from datetime import timezone
from email.utils import parsedate_to_datetime

# Anything long enough to be a token, code or secret: long runs of token characters. Runs of
# lowercase words joined by underscores stay: they are error codes such as unsupported_grant_type.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/=-]{20,}")
_ERROR_CODE = re.compile(r"[a-z_]+")
MAX_EXCERPT = 200


def scrub(value: object) -> str | None:
    """Return ``value`` as a short single-line string with token-like runs replaced; None if empty."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    text = _TOKEN_LIKE.sub(_redact, text)[:MAX_EXCERPT]
    return text or None


def _redact(match: re.Match[str]) -> str:
    return match.group() if _ERROR_CODE.fullmatch(match.group()) else "[redacted]"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Return the wait a ``Retry-After`` header asks for (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" zone: RFC 9110 dates are UTC anyway
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)
