"""Every extra of a ``lockit`` connection, written down once.

The connection form (``conn-fields`` in :func:`lockit_provider.get_provider_info`), the parser in
:mod:`lockit_provider.settings` and ``docs/connection.md`` are all built from :data:`EXTRAS`, so a name,
default or allowed range cannot drift between them. Imported by every ``airflow`` command through the
provider entry point: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "number", "integer", "boolean"]

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
# Seconds. An expiry further ahead than this is a unit mistake (milliseconds) or a typo, not a token.
MAX_EXPIRY_AHEAD = 400 * 86400
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Extra:
    """One connection extra: its JSON type, default, allowed values and how the form shows it.

    Numbers must be finite. ``minimum`` is exclusive when ``positive`` is set (``> 0``), else inclusive.
    ``range_note`` describes a bound the table cannot hold (one that depends on the clock).
    """

    name: str
    kind: Kind
    label: str
    description: str
    default: Any = None
    minimum: float | None = None
    positive: bool = False
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    range_note: str = ""
    default_note: str = ""  # shown instead of the default when it is derived from another field

    def allowed(self) -> str:
        """Describe the allowed values in a few words, e.g. ``a number > 0 and <= 3600``."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "string":
            return "text"
        words = ["a whole number" if self.kind == "integer" else "a number"]
        if self.positive:
            words.append("> 0")
        elif self.minimum is not None:
            words.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            words.append(f"<= {self.maximum:g}")
        if self.range_note:
            words.append(self.range_note)
        return " ".join(words[:2]) + "".join(f" and {w}" for w in words[2:])

    def form_description(self) -> str:
        """Return the form's help text: the description plus the allowed range of a number."""
        if self.kind in ("number", "integer"):
            return f"{self.description} Allowed: {self.allowed()}."
        return self.description


def _seconds(name: str, label: str, description: str, default: float | None, maximum: float) -> Extra:
    return Extra(name, "number", label, description, default=default, positive=True, maximum=maximum)


EXTRAS: tuple[Extra, ...] = (
    Extra(
        "redirect_uri",
        "string",
        "Redirect URI",
        "Registered OAuth redirect URI; a 127.0.0.1/localhost URI lets `airflow lockit authorize` catch "
        "the callback itself.",
        default=DEFAULT_REDIRECT_URI,
    ),
    Extra(
        "authorize_url",
        "string",
        "Authorize URL override",
        "Leave empty to use <API base URL>/oauth/authorize.",
        default_note="<API base URL>/oauth/authorize",
    ),
    Extra(
        "token_url",
        "string",
        "Token URL override",
        "Leave empty to use <API base URL>/oauth/access-token.",
        default_note="<API base URL>/oauth/access-token",
    ),
    Extra(
        "use_pkce",
        "boolean",
        "Use PKCE (S256)",
        "Send a PKCE S256 challenge when authorizing (recommended).",
        default=True,
    ),
    _seconds(
        "timeout",
        "Timeout (seconds)",
        "Timeout of token requests, and the API read timeout unless Read timeout is set.",
        30,
        HOUR,
    ),
    _seconds(
        "connect_timeout",
        "Connect timeout (seconds)",
        "How long to wait for a TCP/TLS connection to the API.",
        10,
        HOUR,
    ),
    Extra(
        "read_timeout",
        "number",
        "Read timeout (seconds)",
        "How long to wait for an API answer; empty uses Timeout.",
        positive=True,
        maximum=HOUR,
        default_note="Timeout",
    ),
    Extra(
        "max_retries",
        "integer",
        "Max retries",
        "Retries on 429, 502, 503, 504 and connection errors (backoff; Retry-After honoured).",
        default=4,
        minimum=0,
        maximum=50,
    ),
    _seconds(
        "retry_deadline",
        "Retry deadline (seconds)",
        "Give up retrying once this much time has passed since the first attempt.",
        120,
        DAY,
    ),
    Extra(
        "ca_bundle",
        "string",
        "CA bundle path",
        "Absolute path to a PEM CA bundle to verify TLS with; empty uses the system trust store.",
    ),
    Extra(
        "client_auth",
        "string",
        "Client credential encoding",
        "How the client id/secret go into HTTP Basic: 'form' encodes them per RFC 6749 2.3.1, 'raw' sends "
        "them as they are.",
        default="form",
        choices=("form", "raw"),
    ),
    Extra(
        "token_variable",
        "string",
        "Token store Variable",
        "Name of the Airflow Variable holding the live token record; empty derives it from the connection "
        "id.",
        default_note="lockit_token__<conn_id>",
    ),
    _seconds(
        "refresh_leeway",
        "Refresh leeway (seconds)",
        "Refresh this long before the access token expires (minus a random jitter per process).",
        300,
        DAY,
    ),
    Extra(
        "state_dir",
        "string",
        "Local state directory",
        "Absolute path where each host keeps its refresh locks and encrypted rescue journal; empty uses "
        "$LOCKIT_STATE_DIR or $AIRFLOW_HOME/lockit.",
        default_note="$LOCKIT_STATE_DIR or $AIRFLOW_HOME/lockit",
    ),
    Extra(
        "lock_conn_id",
        "string",
        "Cross-host lock connection",
        "Id of an Airflow connection of type redis or postgres that serializes refreshes across hosts; "
        "empty uses the Celery broker's Redis when there is one.",
    ),
    Extra(
        "cross_host_lock",
        "string",
        "Automatic cross-host lock",
        "'auto' locks refreshes on the Celery broker's Redis when no lock connection is set; 'off' opts out "
        "(refreshes are then single-flight per host only).",
        default="auto",
        choices=("auto", "off"),
    ),
    _seconds(
        "lock_timeout",
        "Refresh lock timeout (seconds)",
        "How long to wait for the refresh lock held by another thread, process or host.",
        120,
        HOUR,
    ),
    Extra(
        "lock_url",
        "string",
        "Cross-host refresh lock (Redis URL)",
        "Optional redis:// URL without a password; a Redis that needs a password belongs in a connection "
        "named by Cross-host lock connection.",
    ),
    Extra(
        "access_token",
        "string",
        "Access token (bootstrap)",
        "Written by `airflow lockit authorize`; usually leave empty.",
        secret=True,
    ),
    Extra(
        "refresh_token",
        "string",
        "Refresh token (bootstrap)",
        "Written by `airflow lockit authorize`; usually leave empty.",
        secret=True,
    ),
    Extra(
        "expires_at",
        "number",
        "Access token expiry (epoch seconds)",
        "Written by `airflow lockit authorize`.",
        minimum=0,
        range_note="at most 400 days from now",
    ),
)

BY_NAME: dict[str, Extra] = {extra.name: extra for extra in EXTRAS}


def conn_fields() -> dict[str, dict[str, Any]]:
    """Describe the extras as the Airflow 3 UI's ``conn-fields`` (``{label, description, schema}``)."""
    return {extra.name: _form_field(extra) for extra in EXTRAS}


def _form_field(extra: Extra) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [extra.kind, "null"]}
    if extra.secret:
        schema["format"] = "password"
    if extra.default is not None:
        schema["default"] = extra.default
    if extra.choices:
        schema["enum"] = list(extra.choices)
    return {"label": extra.label, "description": extra.form_description(), "schema": schema}
