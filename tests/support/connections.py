"""Lockit connections for tests: ids, free ports, ``AIRFLOW_CONN_*`` values pointing at a sandbox."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from lockit_provider.demo.airflow_components import free_port as free_port  # re-exported for the tests
from lockit_provider.oauth.store import MemoryStore
from lockit_provider.sandbox import Sandbox
from lockit_provider.tokens import refresher_factory

CLIENT_ID = "lockit-client"
CLIENT_SECRET = "lockit-secret"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


def new_conn_id() -> str:
    """Return a fresh connection id, so each test has its own Variable, lock files and refresher."""
    return f"lockit_{uuid.uuid4().hex[:10]}"


def connection_json(
    url: str,
    tokens: dict[str, Any] | None,
    *,
    expires_at: float | None = None,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    **extra: Any,
) -> str:
    """Return an ``AIRFLOW_CONN_*`` JSON value for a lockit connection holding ``tokens``.

    Keyword arguments become extras and win over the tokens' fields (``refresh_token=""``: none).
    """
    extras: dict[str, Any] = {}
    if tokens is not None:
        extras.update(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=int(expires_at if expires_at is not None else time.time() + int(tokens["expires_in"])),
        )
    extras.update(extra)
    return json.dumps(
        {"conn_type": "lockit", "host": url, "login": client_id, "password": client_secret, "extra": extras}
    )


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: str) -> None:
    """Expose a connection to hooks the way a deployment's environment would."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def use_sandbox(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    tmp_path: Path,
    *,
    conn_id: str = "lockit_default",
    expires_at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Point ``conn_id`` at the sandbox with freshly issued tokens; keep locks and journal in tmp_path.

    Every hook built on the default (Variable) store gets one in-memory store instead, so no metadata
    DB is needed. Returns the tokens.
    """
    tokens = sandbox.issue_tokens()
    extra.setdefault("state_dir", str(tmp_path / "lockit-state"))
    set_connection(monkeypatch, conn_id, connection_json(sandbox.url, tokens, expires_at=expires_at, **extra))
    store = MemoryStore()
    monkeypatch.setattr(refresher_factory, "VariableTokenStore", lambda key: store)
    return tokens
