"""Apache Airflow provider for the LockitNetwork API.

Every ``airflow`` command imports this module through the ``apache_airflow_provider`` entry point,
so it must stay free of Airflow and other heavy imports.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

DEFAULT_API_URL = "https://api.lockitnetwork.com"
CONN_TYPE = "lockit"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's declarative metadata for Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-lockit",
        "name": "LockitNetwork",
        "description": "Call the LockitNetwork API (on-set script supervision) with OAuth 2.0 that never "
        "loses a rotated token.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "LockitNetwork",
                "external-doc-url": "https://api.lockitnetwork.com",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.hooks.lockit"]}],
        "operators": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.operators.lockit"]}
        ],
        "sensors": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.sensors.lockit"]}
        ],
        "triggers": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.triggers.lockit"]}
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "lockit_provider.hooks.lockit.LockitHook",
                "hook-name": "LockitNetwork",
                "conn-fields": _conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "API base URL",
                        "login": "Client ID",
                        "password": "Client Secret",
                    },
                    "placeholders": {
                        "host": DEFAULT_API_URL,
                        "login": "the client id LockitNetwork registered for you",
                        "password": "the client secret",
                        "extra": '{"redirect_uri": "http://127.0.0.1:8765/callback"}',
                    },
                },
            }
        ],
        "cli": ["lockit_provider.cli.definition.get_lockit_cli_commands"],
    }


def _conn_fields() -> dict[str, dict[str, Any]]:
    """Describe the connection extras the Airflow 3 UI renders as form fields."""

    def field(label: str, description: str, **schema: Any) -> dict[str, Any]:
        return {"label": label, "description": description, "schema": schema}

    return {
        "redirect_uri": field(
            "Redirect URI",
            "Registered OAuth redirect URI; a 127.0.0.1/localhost URI lets `airflow lockit authorize` "
            "catch the callback itself.",
            type=["string", "null"],
            default="http://127.0.0.1:8765/callback",
        ),
        "authorize_url": field(
            "Authorize URL override",
            "Leave empty to use <API base URL>/oauth/authorize.",
            type=["string", "null"],
        ),
        "token_url": field(
            "Token URL override",
            "Leave empty to use <API base URL>/oauth/access-token.",
            type=["string", "null"],
        ),
        "use_pkce": field(
            "Use PKCE (S256)",
            "Send a PKCE S256 challenge when authorizing (recommended).",
            type=["boolean", "null"],
            default=True,
        ),
        "timeout": field(
            "Timeout (seconds)",
            "Connect/read timeout for API and token requests.",
            type=["number", "null"],
            default=30,
        ),
        "connect_timeout": field(
            "Connect timeout (seconds)",
            "How long to wait for a TCP/TLS connection to the API.",
            type=["number", "null"],
            default=10,
        ),
        "read_timeout": field(
            "Read timeout (seconds)",
            "How long to wait for an API answer; empty uses Timeout.",
            type=["number", "null"],
        ),
        "max_retries": field(
            "Max retries",
            "Retries on 429, 502, 503, 504 and connection errors (backoff; Retry-After honoured).",
            type=["integer", "null"],
            default=4,
        ),
        "retry_deadline": field(
            "Retry deadline (seconds)",
            "Give up retrying once this much time has passed since the first attempt.",
            type=["number", "null"],
            default=120,
        ),
        "ca_bundle": field(
            "CA bundle path",
            "Path to a PEM CA bundle to verify TLS with; empty uses the system trust store.",
            type=["string", "null"],
        ),
        "client_auth": field(
            "Client credential encoding",
            "How the client id/secret go into HTTP Basic: 'form' encodes them per RFC 6749 2.3.1, "
            "'raw' sends them as they are.",
            type=["string", "null"],
            enum=["form", "raw"],
            default="form",
        ),
        "token_variable": field(
            "Token store Variable",
            "Name of the Airflow Variable holding the live token record; empty derives it from the "
            "connection id.",
            type=["string", "null"],
        ),
        "refresh_leeway": field(
            "Refresh leeway (seconds)",
            "Refresh this long before the access token expires (minus a random jitter per process).",
            type=["number", "null"],
            default=300,
        ),
        "state_dir": field(
            "Local state directory",
            "Where each host keeps its refresh locks and encrypted rescue journal; empty uses "
            "$LOCKIT_STATE_DIR or $AIRFLOW_HOME/lockit.",
            type=["string", "null"],
        ),
        "lock_url": field(
            "Cross-host refresh lock (Redis URL)",
            "Optional redis:// URL (e.g. the Redis your Celery workers use) so only one host refreshes at "
            "a time; without it refreshes are single-flight per host.",
            type=["string", "null"],
        ),
        "access_token": field(
            "Access token (bootstrap)",
            "Written by `airflow lockit authorize`; usually leave empty.",
            type=["string", "null"],
            format="password",
        ),
        "refresh_token": field(
            "Refresh token (bootstrap)",
            "Written by `airflow lockit authorize`; usually leave empty.",
            type=["string", "null"],
            format="password",
        ),
        "expires_at": field(
            "Access token expiry (epoch seconds)",
            "Written by `airflow lockit authorize`.",
            type=["integer", "null"],
        ),
    }
