"""Read one connection's extras by the table in :mod:`lockit_provider.connection_extras`.

Each reader returns the value or the table's default, or raises one :class:`LockitConfigError` whose
message names the field, shows the bad value (secrets and URL credentials masked) and says the fix.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lockit_provider.connection_extras import BY_NAME, Extra
from lockit_provider.exceptions import LockitConfigError

log = logging.getLogger(__name__)

MAX_SHOWN = 80
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_PARTS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?P<tail>.*)", re.S
)
# Unknown extras already reported by this process: one warning each, not one per task or hook.
_warned_unknown: set[tuple[str, str]] = set()


def shown(value: Any, *, secret: bool = False) -> str:
    """Return a bad value as the user wrote it (JSON), short, one line; a secret shows as ``'***'``."""
    if secret:
        return "'***'"
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 3]}..."


def masked_url(raw: str) -> str:
    """Return ``raw`` with its credentials (``user:password@``) and query/fragment masked, for messages."""
    match = _URL_PARTS.fullmatch(raw)
    if match is None:  # pragma: no cover - the pattern matches every string
        return "***"
    authority = match["authority"]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    tail = match["tail"]
    if tail:
        tail = tail[0] + "***"
    return f"{match['scheme'] or ''}{authority}{match['path']}{tail}"


def config_error(conn_id: str, what: str, field: str, problem: str, fix: str) -> LockitConfigError:
    """Return the one-line error for a bad connection value: ``<what> is <value>, <problem>; <fix>.``."""
    return LockitConfigError(f"Connection {conn_id!r}: {what} {problem}; {fix}.", field=field)


class ExtraReader:
    """Typed access to one connection's extras, validated against the extras table."""

    def __init__(self, conn_id: str, extras: Mapping[str, Any]) -> None:
        self.conn_id = conn_id
        self.extras = extras

    def raw(self, name: str) -> Any:
        """Return the extra as stored, or None when it is absent, null or blank text."""
        value = self.extras.get(name)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def bad(self, extra: Extra, value: Any, problem: str, fix: str | None = None) -> LockitConfigError:
        """Return the error for ``extra`` holding ``value``; the default fix says what is allowed."""
        what = f"extra {extra.name!r} is {shown(value, secret=extra.secret)},"
        return config_error(self.conn_id, what, extra.name, problem, fix or self.default_fix(extra))

    def default_fix(self, extra: Extra) -> str:
        """Return "use <allowed values>, or leave it empty for the default (...)"."""
        fix = f"use {extra.allowed()}"
        default = extra.default_note or (None if extra.default is None else json.dumps(extra.default))
        if default is not None:
            return f"{fix}, or leave it empty for the default ({default})"
        return f"{fix}, or leave it empty"

    def text(self, name: str) -> str | None:
        """Return a text extra stripped, or its default; control characters are refused."""
        extra = BY_NAME[name]
        value = self.raw(name)
        if value is None:
            return extra.default if isinstance(extra.default, str) else None
        if not isinstance(value, str):
            fix = None if extra.choices else f'write it as a JSON string, e.g. "{extra.name}": "..."'
            raise self.bad(extra, value, "not text", fix)
        if _CONTROL.search(value):
            raise self.bad(extra, value, "with a line break or control character", "remove it")
        text = value.strip()
        if extra.choices:
            text = text.lower()
            if text not in extra.choices:
                raise self.bad(extra, value, "not an allowed value")
        return text

    def flag(self, name: str) -> bool:
        """Return a boolean extra; accepts true/false and the usual words for them."""
        extra = BY_NAME[name]
        value = self.raw(name)
        if value is None:
            return bool(extra.default)
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, (str, int)) else ""
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise self.bad(extra, value, "not true or false")

    def number(self, name: str) -> float | None:
        """Return a finite number within the table's range, or the default (None when it has none)."""
        extra = BY_NAME[name]
        value = self.raw(name)
        if value is None:
            return None if extra.default is None else float(extra.default)
        number = self._finite(extra, value)
        if extra.kind == "integer" and not number.is_integer():
            raise self.bad(extra, value, "not a whole number")
        too_low = number <= 0 if extra.positive else extra.minimum is not None and number < extra.minimum
        if too_low or (extra.maximum is not None and number > extra.maximum):
            raise self.bad(extra, value, "out of range")
        return number

    def _finite(self, extra: Extra, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.bad(extra, value, "not a number")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise self.bad(extra, value, "not a number") from None
        if not math.isfinite(number):
            raise self.bad(extra, value, "not a finite number")
        return number

    def warn_unknown(self) -> None:
        """Log a WARNING, once per process, for each extra the table does not know (likely a typo)."""
        for key in self.extras:
            if key in BY_NAME or (self.conn_id, key) in _warned_unknown:
                continue
            _warned_unknown.add((self.conn_id, key))
            close = difflib.get_close_matches(str(key), list(BY_NAME), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "see docs/connection.md for the known extras."
            log.warning("Connection %r: unknown extra %s is ignored; %s", self.conn_id, shown(key), hint)


def url_problem(raw: str, *, base_only: bool = False) -> str | None:
    """Return what is wrong with an absolute http(s) URL, or None.

    ``base_only`` also refuses a path, query or fragment (the API base URL is ``scheme://host[:port]``).
    """
    if _CONTROL.search(raw) or any(c.isspace() for c in raw):
        return "containing whitespace or a control character"
    match = _URL_PARTS.fullmatch(raw)
    if match is not None and "@" in match["authority"]:
        return "carrying credentials (user:password@)"
    if match is None or not match["scheme"]:
        return "without a scheme"
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https"):
        return "not an http(s) URL"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "with an invalid port"
    if not parts.hostname:
        return "without a host name"
    if parts.fragment or raw.endswith("#"):
        return "with a fragment (#...)"
    if base_only and (parts.path.strip("/") or parts.query or raw.endswith("?")):
        return "with a path or query"
    return None


def query_has_password(query: str) -> bool:
    """Tell whether a URL query carries a ``password`` parameter (redis-py reads one from there too)."""
    return any(key.lower() == "password" for key, _ in parse_qsl(query, keep_blank_values=True))
