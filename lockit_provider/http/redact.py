"""Keep tokens out of error excerpts and logged URLs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

EXCERPT_CHARS = 200
REDACTED = "[redacted]"

# ``token=...``, ``access_token=...``, ``refresh_token: "..."`` and the like, in URLs, forms and JSON.
_TOKEN_VALUE = re.compile(r"""(?i)([\w-]*token[\w-]*["']?\s*[=:]\s*["']?)[^&#\s"',}]+""")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with the given secrets, token-like values and bearer credentials redacted."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_VALUE.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


def excerpt(text: str, secrets: Iterable[str | None] = (), limit: int = EXCERPT_CHARS) -> str:
    """Return a short single-line, redacted excerpt of a response body (redacted before it is cut)."""
    # Only the head matters; a generous margin keeps a token that straddles the cut whole.
    return redact(" ".join(text[: limit * 20].split()), secrets)[:limit]


class RedactingFilter(logging.Filter):
    """Redact token values from the records of HTTP libraries that log request URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a record that mentions a token; keep every record."""
        message = record.getMessage()
        if "token" in message.lower() or "bearer" in message.lower():
            record.msg, record.args = redact(message), ()
        return True


def redact_http_library_logs() -> None:
    """Install the filter on the loggers that print URLs (urllib3 at DEBUG, httpx at INFO)."""
    for name in ("urllib3.connectionpool", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
