"""Connections built with Airflow's own classes, as tasks (Task SDK) and the CLI (ORM) see them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Connection

from tests.support.connections import new_conn_id

CLIENT_SECRET = "client-secret-4f9a2c"  # a value to search for in every message and repr


@pytest.fixture
def connection() -> Callable[..., Connection]:
    """Build a Task SDK Connection; ``extra`` is a dict (JSON-encoded) or raw text as stored."""

    def build(
        extra: Any = None,
        *,
        host: str | None = "https://api.example.com",
        conn_id: str | None = None,
        **fields: Any,
    ) -> Connection:
        text = extra if extra is None or isinstance(extra, str) else json.dumps(extra)
        return Connection(
            conn_id=conn_id or new_conn_id(),
            conn_type="lockit",
            host=host,
            login=fields.pop("login", "lockit-client"),
            password=fields.pop("password", CLIENT_SECRET),
            extra=text,
            **fields,
        )

    return build
