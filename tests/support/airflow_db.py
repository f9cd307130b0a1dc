"""Read and seed the test metadata DB in-process (code under test may run in subprocesses)."""

from __future__ import annotations

import json
from typing import Any

from lockit_provider.oauth.token import TokenRecord
from tests.support.connections import CLIENT_ID, CLIENT_SECRET


def variable_record(key: str) -> TokenRecord | None:
    """Return the token record stored in the Airflow Variable ``key``, or None."""
    from airflow.models.variable import Variable

    raw = Variable.get(key, default_var=None)
    return None if raw is None else TokenRecord.from_json(raw)


def put_variable_record(key: str, record: TokenRecord) -> None:
    """Store ``record`` in the Airflow Variable ``key``."""
    from airflow.models.variable import Variable

    Variable.set(key, record.to_json())


def connection_extras(conn_id: str) -> dict[str, Any] | None:
    """Return the extras of the connection in the metadata DB, or None when it is not there."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        return None if conn is None else dict(conn.extra_dejson)


def put_connection(conn_id: str, *, host: str, redirect_uri: str, extras: dict[str, Any]) -> None:
    """Create a lockit connection in the metadata DB."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type="lockit",
                host=host,
                login=CLIENT_ID,
                password=CLIENT_SECRET,
                extra=json.dumps({"redirect_uri": redirect_uri, **extras}),
            )
        )
