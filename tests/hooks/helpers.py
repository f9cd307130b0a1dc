"""Helpers for tests that call the sandbox through the hooks, with no metadata DB.

Plain functions rather than fixtures, so test modules in other folders can use them too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lockit_provider.oauth.store import MemoryStore
from lockit_provider.sandbox import Sandbox
from lockit_provider.tokens import refresher_factory

CONN_ID = "lockit_default"


def use_sandbox(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    tmp_path: Path,
    *,
    conn_id: str = CONN_ID,
    expires_at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Point ``conn_id`` at the sandbox with freshly issued tokens; keep locks and journal in tmp_path.

    Every hook built on the default (Variable) store gets one in-memory store instead. Returns the
    tokens.
    """
    tokens = sandbox.issue_tokens()
    extras = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": expires_at if expires_at is not None else time.time() + tokens["expires_in"],
        "state_dir": str(tmp_path / "lockit-state"),
        **extra,
    }
    connection = {
        "conn_type": "lockit",
        "host": sandbox.url,
        "login": "lockit-client",
        "password": "lockit-secret",
        "extra": extras,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    store = MemoryStore()
    monkeypatch.setattr(refresher_factory, "VariableTokenStore", lambda key: store)
    return tokens


def api_count(sandbox: Sandbox, status: str) -> int:
    """Return how many API answers the sandbox gave with ``status`` (or ``"dropped"``)."""
    return int(sandbox.stats()["api_requests"].get(status, 0))


def issued_tokens(sandbox: Sandbox) -> list[str]:
    """Return every token the sandbox ever issued."""
    return list(sandbox.stats()["issued_tokens"])
