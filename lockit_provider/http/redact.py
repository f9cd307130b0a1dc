"""Keep tokens out of error excerpts and logged URLs."""

from __future__ import annotations

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
    return redact(" ".join(text.split()), secrets)[:limit]
