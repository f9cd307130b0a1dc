"""The token record: one token response made durable, with no secret in its ``repr``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockit_provider.exceptions import TokenRecordError, TokenResponseError
from lockit_provider.redaction import printable

RECORD_VERSION = 1
DEFAULT_EXPIRES_IN = 3600  # RFC 6749 lets the server omit expires_in; LockitNetwork documents 604800
MAX_TOKEN_CHARS = 8192  # real tokens are tens to hundreds of characters; JWTs stay well below this
MIN_EXPIRES_IN = 1
MAX_EXPIRES_IN = 366 * 24 * 3600  # a year (and a day): beyond that a value is a unit mistake, not a lifetime
# RFC 6750 section 2.1 b64token: what may stand after "Bearer " in an Authorization header. Anything
# else (CR/LF above all) would break or inject into every request header the token is sent in.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def fingerprint(access_token: str | None, refresh_token: str | None, expires_at: float | None) -> str:
    """Return a short, non-reversible digest of a token set.

    The expiry is truncated to whole seconds because the Connection stores it as an integer: a record
    and its copy in the Connection must fingerprint alike.
    """
    expiry = "" if expires_at is None else str(int(expires_at))
    material = "\x1f".join((access_token or "", refresh_token or "", expiry))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def current_actor() -> str:
    """Return ``host/pid``, recorded with each token so a person can tell who obtained it."""
    return f"{socket.gethostname()}/{os.getpid()}"


@dataclass(frozen=True, kw_only=True, repr=False)
class TokenRecord:
    """Access and refresh token with their absolute expiry and provenance."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105  # a token type name, not a secret
    obtained_at: float
    obtained_by: str
    generation: int
    bootstrap_fingerprint: str | None = None
    # The OAuth client the tokens were issued to: a record written for another connection's client
    # must not be used silently (None in records written before this member existed).
    client_id: str | None = None
    # Set when the server rejected this record's refresh token and no sibling had a newer one: every
    # process then fails fast instead of sending refresh after refresh. A re-authorization replaces it.
    dead_since: float | None = None
    # "host/pid@epoch" of the latest refreshes, newest first: shows which hosts share the grant.
    history: tuple[str, ...] = ()

    def __repr__(self) -> str:
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at))
        return (
            f"TokenRecord(generation={self.generation}, expires_at={expiry}, "
            f"obtained_by={self.obtained_by!r}, fingerprint={self.fingerprint()[:8]})"
        )

    @property
    def lifetime(self) -> float:
        """Return how long the access token was valid for when it was obtained."""
        return max(0.0, self.expires_at - self.obtained_at)

    def expires_within(self, seconds: float, now: float) -> bool:
        """Return whether the access token is expired or expires within ``seconds`` from ``now``."""
        return self.expires_at - now <= seconds

    def fingerprint(self) -> str:
        """Return the fingerprint of this record's tokens and expiry."""
        return fingerprint(self.access_token, self.refresh_token, self.expires_at)

    def as_bootstrap(self) -> TokenRecord:
        """Return this record marked as the one written to the Connection (by ``authorize``)."""
        return dataclasses.replace(self, bootstrap_fingerprint=self.fingerprint())

    @classmethod
    def from_token_response(
        cls,
        payload: object,
        *,
        previous: TokenRecord | None,
        now: float,
        obtained_by: str,
        client_id: str | None = None,
        default_expires_in: int = DEFAULT_EXPIRES_IN,
    ) -> TokenRecord:
        """Parse a token endpoint response strictly (RFC 6749 section 5.1); nothing unchecked gets through.

        ``now`` is when the request was sent: the server's clock for ``expires_in`` started no earlier.
        A response without ``refresh_token`` keeps the previous one (servers that do not rotate may
        leave it out); members other than the ones below are ignored.
        """
        if not isinstance(payload, Mapping):
            raise TokenResponseError("token response is not a JSON object")
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TokenResponseError(
                "token response has no usable 'access_token' member (missing, empty or not a string)",
                member="access_token",
            )
        _check_response_token("access_token", access_token)
        token_type = payload.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenResponseError(
                f"token response member 'token_type' is {str(token_type)[:20]!r}, expected 'Bearer'",
                member="token_type",
            )
        refresh_token = payload.get("refresh_token")
        if refresh_token is not None and not isinstance(refresh_token, str):
            raise TokenResponseError(
                "token response member 'refresh_token' is not a string", member="refresh_token"
            )
        if refresh_token:
            _check_response_token("refresh_token", refresh_token)
        if not refresh_token:
            refresh_token = previous.refresh_token if previous else None
        expires_in = _expires_in(payload.get("expires_in"), default_expires_in)
        return cls(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=now + expires_in,
            obtained_at=now,
            obtained_by=obtained_by,
            generation=previous.generation + 1 if previous else 1,
            bootstrap_fingerprint=previous.bootstrap_fingerprint if previous else None,
            client_id=client_id if client_id is not None else (previous.client_id if previous else None),
        )

    def to_json(self) -> str:
        """Serialize to versioned JSON (the store's format; it holds secrets, keep it private)."""
        return json.dumps({"version": RECORD_VERSION, **dataclasses.asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TokenRecord:
        """Load a record written by :meth:`to_json`; raise TokenRecordError naming what is wrong."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            raise TokenRecordError("stored token record is not valid JSON") from None
        if not isinstance(data, dict):
            raise TokenRecordError("stored token record is not a JSON object")
        if data.get("version") != RECORD_VERSION:
            raise TokenRecordError(
                f"stored token record has version {str(data.get('version'))[:10]!r}; "
                f"this provider reads version {RECORD_VERSION}"
            )
        for name, kinds in _RECORD_MEMBERS.items():
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise TokenRecordError(
                    f"stored token record member {name!r} is missing or has the wrong type"
                )
        # A token stored before responses were validated must not reach an Authorization header.
        for name in ("access_token", "refresh_token"):
            problem = _token_problem(name, data[name]) if data[name] else None
            if problem:
                raise TokenRecordError(f"stored token record member {problem}")
        for name, check in _OPTIONAL_MEMBERS.items():
            value = data.get(name)
            if value is not None and not check(value):
                raise TokenRecordError(f"stored token record member {name!r} has the wrong type")
        optional = {name: data[name] for name in _OPTIONAL_MEMBERS if data.get(name) is not None}
        if "history" in optional:
            optional["history"] = tuple(optional["history"])
        return cls(**{name: data[name] for name in _RECORD_MEMBERS}, **optional)


_RECORD_MEMBERS: dict[str, tuple[type, ...]] = {
    "access_token": (str,),
    "refresh_token": (str, type(None)),
    "expires_at": (int, float),
    "token_type": (str,),
    "obtained_at": (int, float),
    "obtained_by": (str,),
    "generation": (int,),
    "bootstrap_fingerprint": (str, type(None)),
}


# Members added after version 1 was released: absent in older records, so optional.
_OPTIONAL_MEMBERS: dict[str, Callable[[Any], bool]] = {
    "dead_since": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "history": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
    "client_id": lambda v: isinstance(v, str),
}


def _token_problem(name: str, value: str) -> str | None:
    """Say what is wrong with ``value`` as a token (an RFC 6750 b64token of sane length), never quoting it."""
    if len(value) > MAX_TOKEN_CHARS:
        return f"{name!r} is {len(value)} characters long, over the limit of {MAX_TOKEN_CHARS}: not a token"
    if not _B64TOKEN.fullmatch(value):
        return (
            f"{name!r} has characters a bearer token cannot have (RFC 6750 allows letters, digits, "
            "'-._~+/' and trailing '='; control characters such as CR/LF are refused)"
        )
    return None


def _check_response_token(name: str, value: str) -> None:
    problem = _token_problem(name, value)
    if problem:
        raise TokenResponseError(f"token response member {problem}; nothing was stored", member=name)


def _expires_in(value: Any, default: int) -> int:
    """Return ``expires_in`` as whole seconds: a JSON number or a string of digits; absent -> default."""
    if value is None:
        return default
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    if seconds is None or not math.isfinite(seconds) or not MIN_EXPIRES_IN <= seconds <= MAX_EXPIRES_IN:
        raise TokenResponseError(
            f"token response member 'expires_in' must be a number of seconds from {MIN_EXPIRES_IN} to "
            f"{MAX_EXPIRES_IN} (a year), got {printable(str(value))[:20]!r}; nothing was stored",
            member="expires_in",
        )
    return int(seconds)


def choose_record(live: TokenRecord | None, bootstrap: TokenRecord | None) -> TokenRecord | None:
    """Return the record to use: the live one, unless the Connection's tokens changed since.

    ``live`` remembers which Connection tokens it descends from (``bootstrap_fingerprint``). When the
    Connection now holds other tokens, someone re-ran ``authorize``: the Connection wins, with a
    generation above the live one so it counts as newer everywhere.
    """
    if bootstrap is None:
        return live
    boot_fingerprint = bootstrap.bootstrap_fingerprint or bootstrap.fingerprint()
    if live is not None and live.bootstrap_fingerprint == boot_fingerprint:
        return live
    generation = live.generation + 1 if live is not None else bootstrap.generation
    return dataclasses.replace(bootstrap, generation=generation, bootstrap_fingerprint=boot_fingerprint)
