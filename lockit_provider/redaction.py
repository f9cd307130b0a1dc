"""One set of rules that keeps secrets and terminal tricks out of messages, excerpts and logs.

Every text that leaves the provider and may carry something a server or a caller supplied goes
through here: OAuth error descriptions, API error bodies, logged URLs. The rules, in order:

1. known secrets (the tokens and client secret in play) are replaced wherever they stand;
2. values of ``token``/``secret``/``password`` keys (URL queries, forms, JSON) are replaced;
3. ``Bearer``/``Basic`` credentials are replaced;
4. long random-looking runs (a path segment of 20+ token characters mixing upper case, lower case and
   digits) are replaced: tokens look like that; error codes, hostnames, paths, clip names and hex ids
   do not.

:func:`excerpt` also removes control characters and terminal escape sequences and makes the text one
short line, so a hostile server cannot rewrite an operator's terminal or forge log lines.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from datetime import timezone
from email.utils import parsedate_to_datetime

REDACTED = "[redacted]"
EXCERPT_CHARS = 200

_SECRET_VALUE = re.compile(
    r"""(?i)([\w-]*(?:token|secret|password|passwd)[\w-]*["']?\s*[=:]\s*["']?)[^&#\s"',}]+"""
)
_CREDENTIAL = re.compile(r"(?i)\b((?:bearer|basic)\s+)[\w.~+/=-]+")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/=-]{20,}")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_DIGIT = re.compile(r"[0-9]")
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), two-character escapes, and 8-bit CSI.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with known secrets, secret-named values, credentials and token-like runs redacted."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SECRET_VALUE.sub(rf"\1{REDACTED}", text)
    text = _CREDENTIAL.sub(rf"\1{REDACTED}", text)
    return _TOKEN_LIKE.sub(_redact_random_run, text)


def _redact_random_run(match: re.Match[str]) -> str:
    # Path segments one by one: an endpoint such as /projects/PRJ-12/days/2026-05-12/clips is long,
    # but none of its parts looks random. A random part mixes upper case, lower case and digits.
    return "/".join(
        REDACTED
        if len(part) >= 20 and _UPPER.search(part) and _LOWER.search(part) and _DIGIT.search(part)
        else part
        for part in match.group().split("/")
    )


def printable(text: str) -> str:
    """Return ``text`` as one line without escape sequences, control or invisible format characters."""
    text = _ESCAPE.sub("", text)
    # Whitespace controls become spaces; other controls and format characters (bidi overrides,
    # zero-width joiners) go: they can hide or reorder what an operator reads.
    kept = (" " if char.isspace() else char for char in text)
    return " ".join("".join(c for c in kept if unicodedata.category(c)[0] != "C").split())


def excerpt(text: str, secrets: Iterable[str | None] = (), limit: int = EXCERPT_CHARS) -> str:
    """Return a short, printable, redacted excerpt of server-supplied text (redacted before it is cut)."""
    # Only the head matters; a generous margin keeps a token that straddles the cut whole.
    return redact(printable(text[: limit * 20]), secrets)[:limit]


def scrub(value: object, secrets: Iterable[str | None] = ()) -> str | None:
    """Return a server-supplied value as an excerpt, or None when it is absent or empty."""
    if value is None:
        return None
    return excerpt(str(value), secrets) or None


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


class RedactingFilter(logging.Filter):
    """Redact secrets from the records of HTTP libraries that log request URLs."""

    _HINTS = ("token", "bearer", "basic", "secret", "password")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a record that may mention a secret; keep every record."""
        message = record.getMessage()
        lowered = message.lower()
        if any(hint in lowered for hint in self._HINTS):
            record.msg, record.args = redact(message), ()
        return True


def redact_http_library_logs() -> None:
    """Install the filter on the loggers that print URLs (urllib3 at DEBUG, httpx at INFO)."""
    for name in ("urllib3.connectionpool", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
