"""Helpers for token-lifecycle tests: connections built from sandbox grants, store access, leak scans."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import pytest

from lockit_provider.oauth.token import TokenRecord
from lockit_provider.sandbox import Sandbox
from lockit_provider.settings import token_variable_name


def connection_json(
    url: str,
    tokens: dict[str, Any] | None,
    *,
    expires_at: float | None = None,
    client_id: str = "lockit-client",
    client_secret: str = "lockit-secret",
    **extra: Any,
) -> str:
    """Return an ``AIRFLOW_CONN_*`` JSON value for a lockit connection holding ``tokens``."""
    extras: dict[str, Any] = dict(extra)
    if tokens is not None:
        extras.update(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=int(expires_at if expires_at is not None else time.time() + int(tokens["expires_in"])),
        )
    return json.dumps(
        {"conn_type": "lockit", "host": url, "login": client_id, "password": client_secret, "extra": extras}
    )


def new_conn_id() -> str:
    """Return a fresh connection id, so each test has its own Variable and lock files."""
    return f"lockit_{uuid.uuid4().hex[:10]}"


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: str) -> None:
    """Expose a connection to the hook the way a deployment's environment would."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def stored_record(conn_id: str) -> TokenRecord | None:
    """Read the live record straight from the metadata DB."""
    from airflow.models.variable import Variable

    raw = Variable.get(token_variable_name(conn_id), default_var=None)
    return None if raw is None else TokenRecord.from_json(raw)


def refresh_count(sandbox: Sandbox) -> int:
    """Return how many refresh_token grants reached the sandbox."""
    return int(sandbox.stats()["token_requests"].get("refresh_token", 0))


def assert_no_token_in(texts: Iterable[str], issued_tokens: Iterable[str]) -> int:
    """Fail if any issued token occurs in any text; return how many texts were scanned."""
    tokens = [t for t in issued_tokens if t]
    assert tokens, "the sandbox issued no tokens: the scan would prove nothing"
    scanned = 0
    for text in texts:
        scanned += 1
        for token in tokens:
            assert token not in text, f"a token leaked into: {text[:200]!r}"
    return scanned
