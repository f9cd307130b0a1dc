"""Turn an Airflow Connection of type ``lockit`` into validated provider settings.

The one parser of a connection: the hooks, the CLI and the refresher all read :class:`LockitSettings`.
Names, defaults and ranges of the extras come from :mod:`lockit_provider.connection_extras`. Imports no
Airflow: it reads the few attributes every Connection object has.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from lockit_provider import DEFAULT_API_URL
from lockit_provider.connection_extras import BY_NAME, DEFAULT_REDIRECT_URI, MAX_EXPIRY_AHEAD
from lockit_provider.exceptions import LockitConfigError
from lockit_provider.extra_values import (
    ExtraReader,
    config_error,
    masked_url,
    query_has_password,
    shown,
    url_problem,
)
from lockit_provider.http.retry import RetryPolicy
from lockit_provider.oauth.client import is_allowed_transport

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "BootstrapTokens",
    "ConnectionLike",
    "LockitSettings",
    "default_state_dir",
    "require_client_secret",
    "settings_from_connection",
    "token_variable_name",
]

_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
LOCK_URL_SCHEMES = ("redis", "rediss", "unix")
# 1e11 epoch seconds is the year 5138, but as milliseconds it is 1973: larger expiries are milliseconds.
MILLISECONDS_FROM = 1e11


def _default(name: str) -> Any:
    return BY_NAME[name].default


class ConnectionLike(Protocol):
    """The attributes of an Airflow Connection this module reads (``extra`` and ``port`` when present)."""

    conn_id: str
    host: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """Return the connection's extras as a dict."""


@dataclass(frozen=True)
class BootstrapTokens:
    """Tokens kept in the Connection's extras: the record `airflow lockit authorize` wrote."""

    access_token: str | None
    refresh_token: str | None
    expires_at: float | None

    def __repr__(self) -> str:
        return f"BootstrapTokens(expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class LockitSettings:
    """Everything the provider needs from one connection, validated."""

    conn_id: str
    api_url: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    redirect_uri: str = DEFAULT_REDIRECT_URI
    authorize_url: str = ""
    token_url: str = ""
    use_pkce: bool = _default("use_pkce")
    client_auth: Literal["form", "raw"] = _default("client_auth")
    timeout: float = _default("timeout")
    connect_timeout: float = _default("connect_timeout")
    read_timeout: float = _default("timeout")
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ca_bundle: str | None = None
    token_variable: str = ""
    state_dir: Path = Path(".")
    refresh_leeway: float = _default("refresh_leeway")
    lock_conn_id: str | None = None
    cross_host_lock: Literal["auto", "off"] = _default("cross_host_lock")
    lock_timeout: float = _default("lock_timeout")
    lock_url: str | None = None
    bootstrap: BootstrapTokens = BootstrapTokens(None, None, None)

    def __repr__(self) -> str:
        return f"LockitSettings(conn_id={self.conn_id!r}, api_url={self.api_url!r})"

    @property
    def verify(self) -> bool | str:
        """Return the ``verify`` argument for requests/httpx: a CA bundle path or True."""
        return self.ca_bundle or True

    @property
    def timeouts(self) -> tuple[float, float]:
        """Return the API's ``(connect, read)`` timeouts as requests takes them."""
        return self.connect_timeout, self.read_timeout

    @property
    def reauth_command(self) -> str:
        """Return the exact command that re-authorizes this connection."""
        return f"airflow lockit authorize --conn-id {self.conn_id}"

    @property
    def lock_dir(self) -> Path:
        """Return the directory of the per-connection file locks on this host."""
        return self.state_dir / "locks"

    @property
    def journal_dir(self) -> Path:
        """Return the directory of the encrypted rescue journal on this host."""
        return self.state_dir / "rescue"


def default_state_dir() -> Path:
    """Return where locks and the rescue journal live unless a connection says otherwise.

    A relative directory would differ per working directory, so processes would not share their locks:
    it is refused with the variable to fix.
    """
    override = os.environ.get("LOCKIT_STATE_DIR", "").strip()
    if override:
        return _absolute_dir(override, "LOCKIT_STATE_DIR", "the environment variable LOCKIT_STATE_DIR")
    home = os.environ.get("AIRFLOW_HOME", "").strip() or "~/airflow"
    return _absolute_dir(home, "AIRFLOW_HOME", "the environment variable AIRFLOW_HOME") / "lockit"


def token_variable_name(conn_id: str) -> str:
    """Derive the Airflow Variable that holds a connection's live token record; distinct ids never share one.

    An id of safe characters keeps its readable name ``lockit_token__<id>``. Any other id gets its
    unsafe characters replaced and a hash of the id, under the prefix ``lockit_token_h<hash>__``, which
    no safe id can produce: ``x:prod`` and ``x/prod`` (and the safe ``x_prod``) stay apart.
    """
    if _SAFE_ID.fullmatch(conn_id):
        return f"lockit_token__{conn_id}"
    digest = hashlib.sha256(conn_id.encode("utf-8")).hexdigest()[:12]
    return f"lockit_token_h{digest}__{_UNSAFE_CHARS.sub('_', conn_id)[:200]}"


def settings_from_connection(conn: ConnectionLike) -> LockitSettings:
    """Validate a connection and return its settings; each error names the field, the value and the fix."""
    conn_id = conn.conn_id
    read = ExtraReader(conn_id, _extras(conn))
    read.warn_unknown()
    api_url = _api_url(conn)
    client_id = (conn.login or "").strip()
    if not client_id:
        raise LockitConfigError(
            f"Connection {conn_id!r}: the Client ID (field 'login') is empty. Set it in the connection, or "
            f"run `airflow lockit authorize --conn-id {conn_id} --client-id ...`.",
            field="login",
        )
    timeout = _with_default(read, "timeout")
    lock_conn_id, lock_url = _lock_target(read)
    return LockitSettings(
        conn_id=conn_id,
        api_url=api_url,
        client_id=client_id,
        client_secret=conn.password or "",
        redirect_uri=_url(read, "redirect_uri") or DEFAULT_REDIRECT_URI,
        authorize_url=_url(read, "authorize_url") or f"{api_url}/oauth/authorize",
        token_url=_url(read, "token_url") or f"{api_url}/oauth/access-token",
        use_pkce=read.flag("use_pkce"),
        client_auth=cast(Literal["form", "raw"], read.text("client_auth")),
        timeout=timeout,
        connect_timeout=_with_default(read, "connect_timeout"),
        read_timeout=read.number("read_timeout") or timeout,
        retry=RetryPolicy(
            max_retries=int(_with_default(read, "max_retries")),
            deadline=_with_default(read, "retry_deadline"),
        ),
        ca_bundle=_ca_bundle(read),
        token_variable=read.text("token_variable") or token_variable_name(conn_id),
        state_dir=_state_dir(read),
        refresh_leeway=_with_default(read, "refresh_leeway"),
        lock_conn_id=lock_conn_id,
        cross_host_lock=cast(Literal["auto", "off"], read.text("cross_host_lock")),
        lock_timeout=_with_default(read, "lock_timeout"),
        lock_url=lock_url,
        bootstrap=BootstrapTokens(
            access_token=read.text("access_token"),
            refresh_token=read.text("refresh_token"),
            expires_at=_expires_at(read),
        ),
    )


def require_client_secret(settings: LockitSettings) -> str:
    """Return the client secret, or explain that the token endpoint needs it."""
    if not settings.client_secret:
        raise LockitConfigError(
            f"Connection {settings.conn_id!r}: the Client Secret (field 'password') is empty; the token "
            "endpoint needs it. Set it in the connection or pass --client-secret-env to "
            f"`airflow lockit authorize --conn-id {settings.conn_id}`.",
            field="password",
        )
    return settings.client_secret


def _extras(conn: ConnectionLike) -> dict[str, Any]:
    """Return the extras, refusing anything but a JSON object.

    Airflow's ``extra_dejson`` logs and returns ``{}`` for text that is not JSON, and returns lists or
    strings as they are; the user would then read "no token, authorize" instead of the real mistake.
    """
    try:
        raw = getattr(conn, "extra", None)
    except ValueError:  # the ORM Connection checks the JSON shape when read and says only that it is bad
        raise _bad_extra_field(conn.conn_id, "not a JSON object") from None
    if isinstance(raw, str) and raw.strip():
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            # The text is not shown: it may hold a token. Where it breaks is enough to find the typo.
            where = f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
            raise _bad_extra_field(conn.conn_id, where) from None
        if not isinstance(value, dict):
            raise _bad_extra_field(conn.conn_id, _json_kind(value))
    extras = conn.extra_dejson  # also registers secret values with Airflow's masker
    if extras is None:
        return {}
    if not isinstance(extras, dict):
        raise _bad_extra_field(conn.conn_id, _json_kind(extras))
    return dict(extras)


def _json_kind(value: Any) -> str:
    """Name the JSON type of a non-object Extra; its text is not shown, a pasted token may be in it."""
    if value is None:
        return "null, not a JSON object"
    kinds = {bool: "boolean", str: "string", list: "array", int: "number", float: "number"}
    return f"a JSON {kinds.get(type(value), type(value).__name__)}, not an object"


def _bad_extra_field(conn_id: str, problem: str) -> LockitConfigError:
    return config_error(
        conn_id,
        "the Extra field (field 'extra') is",
        "extra",
        problem,
        'write a JSON object such as {"timeout": 30}, or leave it empty',
    )


def _api_url(conn: ConnectionLike) -> str:
    raw = (conn.host or "").strip()
    if getattr(conn, "port", None):
        raise config_error(
            conn.conn_id,
            f"the Port field (field 'port') is {shown(getattr(conn, 'port', None))},",
            "port",
            "which is not used",
            "put the port in the API base URL (field 'host'), e.g. https://api.example.com:8443, and clear "
            "Port",
        )
    if not raw:
        return DEFAULT_API_URL
    problem = url_problem(raw, base_only=True) or _plain_http_problem(raw)
    if problem is None:
        return raw.rstrip("/")
    fixes = {
        "without a scheme": f"write it with its scheme, e.g. https://{masked_url(raw)}",
        "carrying credentials (user:password@)": "remove the user:password@ part; the credentials belong in "
        "the Client ID and Client Secret fields",
        "with a path or query": "give scheme://host[:port] only, e.g. " + DEFAULT_API_URL,
        "plain http to a host other than 127.0.0.1/localhost": "use https:// (the bearer token would travel "
        "in clear text)",
    }
    raise config_error(
        conn.conn_id,
        f"the API base URL (field 'host') is {shown(masked_url(raw))},",
        "host",
        problem,
        fixes.get(problem, f"use an https:// URL such as {DEFAULT_API_URL}"),
    )


def _plain_http_problem(url: str) -> str | None:
    """Refuse plain http to a remote API: the bearer token would cross the network in clear text."""
    return None if is_allowed_transport(url) else "plain http to a host other than 127.0.0.1/localhost"


def _url(read: ExtraReader, name: str) -> str | None:
    """Return an optional absolute http(s) URL extra (an endpoint or the redirect URI)."""
    raw = read.text(name)
    if raw is None:
        return None
    problem = url_problem(raw)
    if problem is not None:
        raise config_error(
            read.conn_id,
            f"extra {name!r} is {shown(masked_url(raw))},",
            name,
            problem,
            "give an absolute https:// URL (http only on 127.0.0.1/localhost), or leave it empty for the "
            f"default ({BY_NAME[name].default_note or BY_NAME[name].default})",
        )
    return raw


def _with_default(read: ExtraReader, name: str) -> float:
    """Return a number extra that has a default in the table (so never None)."""
    value = read.number(name)
    if value is None:
        raise KeyError(f"extra {name!r} has no default in the extras table")
    return value


def _expires_at(read: ExtraReader) -> float | None:
    """Return the bootstrap expiry in epoch seconds; milliseconds and far-future values are refused."""
    expires_at = read.number("expires_at")
    if expires_at is None:
        return None
    latest = time.time() + MAX_EXPIRY_AHEAD
    if expires_at > latest:
        extra = BY_NAME["expires_at"]
        value = read.raw("expires_at")
        if expires_at >= MILLISECONDS_FROM:
            raise read.bad(
                extra, value, "which looks like milliseconds", "give epoch seconds (divide by 1000)"
            )
        raise read.bad(
            extra,
            value,
            "more than 400 days from now",
            "give epoch seconds as `airflow lockit authorize` writes them, or remove it so the access token "
            "is refreshed before its first use",
        )
    return expires_at


def _ca_bundle(read: ExtraReader) -> str | None:
    path = read.text("ca_bundle")
    if path is None:
        return None
    expanded = Path(path).expanduser()
    if not expanded.is_absolute() or not expanded.is_file():
        problem = "a relative path" if not expanded.is_absolute() else "not a file"
        raise read.bad(
            BY_NAME["ca_bundle"],
            path,
            problem,
            "give the absolute path of a PEM CA bundle readable on every worker, or clear the field",
        )
    return str(expanded)


def _state_dir(read: ExtraReader) -> Path:
    path = read.text("state_dir")
    if path is None:
        return default_state_dir()
    return _absolute_dir(path, "state_dir", f"Connection {read.conn_id!r}: extra 'state_dir'")


def _absolute_dir(path: str, field: str, what: str) -> Path:
    directory = Path(path).expanduser()
    if directory.is_absolute():
        return directory
    raise LockitConfigError(
        f"{what} is {shown(path)}, a relative path: each process would resolve it against its own working "
        "directory and lose the shared refresh lock; give an absolute path such as /var/lib/airflow/lockit.",
        field=field,
    )


def _lock_target(read: ExtraReader) -> tuple[str | None, str | None]:
    """Return ``(lock_conn_id, lock_url)``; a URL with a password belongs in a connection instead."""
    lock_conn_id = read.text("lock_conn_id")
    if lock_conn_id is not None and lock_conn_id == read.conn_id:
        raise read.bad(
            BY_NAME["lock_conn_id"],
            lock_conn_id,
            "this connection itself",
            "name a connection of type redis or postgres",
        )
    lock_url = read.text("lock_url")
    if lock_url is None:
        return lock_conn_id, None
    parts = urlsplit(lock_url)
    what = f"extra 'lock_url' is {shown(masked_url(lock_url))},"
    if parts.password is not None or query_has_password(parts.query):
        raise config_error(
            read.conn_id,
            what,
            "lock_url",
            "carrying a password",
            "create an Airflow connection of type redis for it and set extra 'lock_conn_id' to its id "
            "instead; connections keep passwords encrypted and masked",
        )
    if parts.scheme.lower() not in LOCK_URL_SCHEMES or not (parts.hostname or parts.path):
        raise config_error(
            read.conn_id, what, "lock_url", "not a redis:// URL", "use e.g. redis://redis-host:6379/0"
        )
    if lock_conn_id is not None:
        raise config_error(
            read.conn_id,
            what,
            "lock_url",
            "set together with extra 'lock_conn_id'",
            "keep one of the two (lock_conn_id is preferred)",
        )
    return None, lock_url
