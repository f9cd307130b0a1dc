"""Turn an Airflow Connection of type ``lockit`` into validated provider settings.

Imports no Airflow: it reads the few attributes every Connection object has, so the CLI, the hook
and the tests share one parser and one set of error messages.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from lockit_provider import DEFAULT_API_URL
from lockit_provider.exceptions import LockitConfigError

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_TIMEOUT = 30.0
DEFAULT_LEEWAY = 300.0
CLIENT_AUTH_MODES = ("form", "raw")


class ConnectionLike(Protocol):
    """The attributes of an Airflow Connection this module reads."""

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
    client_secret: str = ""
    redirect_uri: str = DEFAULT_REDIRECT_URI
    authorize_url: str = ""
    token_url: str = ""
    use_pkce: bool = True
    client_auth: Literal["form", "raw"] = "form"
    timeout: float = DEFAULT_TIMEOUT
    ca_bundle: str | None = None
    token_variable: str = ""
    state_dir: Path = Path(".")
    refresh_leeway: float = DEFAULT_LEEWAY
    lock_url: str | None = None
    bootstrap: BootstrapTokens = BootstrapTokens(None, None, None)

    def __repr__(self) -> str:
        return f"LockitSettings(conn_id={self.conn_id!r}, api_url={self.api_url!r})"

    @property
    def verify(self) -> bool | str:
        """Return the ``verify`` argument for requests/httpx: a CA bundle path or True."""
        return self.ca_bundle or True

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
    """Return where locks and the rescue journal live unless a connection says otherwise."""
    override = os.environ.get("LOCKIT_STATE_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "lockit"


def token_variable_name(conn_id: str) -> str:
    """Derive the Airflow Variable that holds a connection's live token record."""
    return f"lockit_token__{re.sub(r'[^A-Za-z0-9_.-]', '_', conn_id)}"


def settings_from_connection(conn: ConnectionLike) -> LockitSettings:
    """Validate a connection and return its settings; errors name the field and the fix."""
    conn_id = conn.conn_id
    extras = _extras(conn)
    api_url = _api_url(conn.host, conn_id)
    client_id = (conn.login or "").strip()
    if not client_id:
        raise LockitConfigError(
            f"Connection {conn_id!r}: the Client ID (field 'login') is empty. Set it in the connection, or "
            f"run `airflow lockit authorize --conn-id {conn_id} --client-id ...`.",
            field="login",
        )
    client_auth = str(extras.get("client_auth") or "form")
    if client_auth not in CLIENT_AUTH_MODES:
        raise LockitConfigError(
            f"Connection {conn_id!r}: extra 'client_auth' is {client_auth!r}; use 'form' (RFC 6749 2.3.1) "
            "or 'raw'.",
            field="client_auth",
        )
    ca_bundle = _optional_str(extras.get("ca_bundle"))
    if ca_bundle and not Path(ca_bundle).is_file():
        raise LockitConfigError(
            f"Connection {conn_id!r}: extra 'ca_bundle' points to {ca_bundle!r}, which is not a file. Give "
            "the path of a PEM CA bundle readable on every worker, or clear the field.",
            field="ca_bundle",
        )
    return LockitSettings(
        conn_id=conn_id,
        api_url=api_url,
        client_id=client_id,
        client_secret=conn.password or "",
        redirect_uri=_optional_str(extras.get("redirect_uri")) or DEFAULT_REDIRECT_URI,
        authorize_url=_optional_str(extras.get("authorize_url")) or f"{api_url}/oauth/authorize",
        token_url=_optional_str(extras.get("token_url")) or f"{api_url}/oauth/access-token",
        use_pkce=_bool(extras.get("use_pkce", True), "use_pkce", conn_id),
        client_auth=cast(Literal["form", "raw"], client_auth),
        timeout=_positive_float(extras.get("timeout"), DEFAULT_TIMEOUT, "timeout", conn_id),
        ca_bundle=ca_bundle,
        token_variable=_optional_str(extras.get("token_variable")) or token_variable_name(conn_id),
        state_dir=Path(_optional_str(extras.get("state_dir")) or default_state_dir()).expanduser(),
        lock_url=_optional_str(extras.get("lock_url")),
        refresh_leeway=_positive_float(
            extras.get("refresh_leeway"), DEFAULT_LEEWAY, "refresh_leeway", conn_id
        ),
        bootstrap=BootstrapTokens(
            access_token=_optional_str(extras.get("access_token")),
            refresh_token=_optional_str(extras.get("refresh_token")),
            expires_at=_optional_float(extras.get("expires_at"), "expires_at", conn_id),
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
    try:
        extras = conn.extra_dejson
    except (ValueError, json.JSONDecodeError) as err:
        raise LockitConfigError(
            f"Connection {conn.conn_id!r}: the Extra field is not valid JSON ({err.__class__.__name__}). "
            "Fix it in the connection form.",
            field="extra",
        ) from None
    return dict(extras or {})


def _api_url(host: str | None, conn_id: str) -> str:
    raw = (host or "").strip() or DEFAULT_API_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LockitConfigError(
            f"Connection {conn_id!r}: the API base URL (field 'host') {raw!r} is not an http(s) URL; use "
            f"e.g. {DEFAULT_API_URL}.",
            field="host",
        )
    return raw.rstrip("/")


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any, name: str, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise LockitConfigError(
        f"Connection {conn_id!r}: extra {name!r} is {value!r}; use true or false.", field=name
    )


def _optional_float(value: Any, name: str, conn_id: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LockitConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number (epoch seconds), not {value!r}.",
            field=name,
        ) from None


def _positive_float(value: Any, default: float, name: str, conn_id: str) -> float:
    number = _optional_float(value, name, conn_id)
    if number is None:
        return default
    if number <= 0:
        raise LockitConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a positive number of seconds, not {value!r}.",
            field=name,
        )
    return number
