"""Find a Connection where Airflow finds it, and create or update it in the metadata DB.

The CLI walks the same ordered secrets backends Airflow's server-side lookup walks
(``Connection.get_connection_from_secrets``): the first backend that has the id supplies the
Connection tasks will see, and which backend that was decides whether ``authorize`` may write the
Connection (only the metadata DB can be written) or only the token store.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockit_provider import CONN_TYPE
from lockit_provider.cli.errors import CliError
from lockit_provider.compat import secrets_backends

if TYPE_CHECKING:
    from airflow.models.connection import Connection

METADATA_DB = "metadata DB"


@dataclass(frozen=True)
class LocatedConnection:
    """A Connection and where Airflow found it."""

    conn: Connection
    source: str

    @property
    def in_metadata_db(self) -> bool:
        """Return whether the Connection lives in the metadata DB (the only place the CLI can write)."""
        return self.source == METADATA_DB


def find_connection(conn_id: str) -> LocatedConnection | None:
    """Return the Connection Airflow resolves for ``conn_id`` and its source, or None."""
    # As Airflow's own `connections get` does: this process may read the metadata DB.
    for backend in secrets_backends():
        try:
            conn = backend.get_connection(conn_id)
        except PermissionError:
            raise  # an authoritative deny must not fall through to another backend
        except Exception as error:  # Airflow skips a failing backend too; say so instead of hiding it
            print(
                f"note: secrets backend {type(backend).__name__} failed ({type(error).__name__}); "
                "skipped, as Airflow does",
                file=sys.stderr,
            )
            continue
        if conn is not None:
            return LocatedConnection(conn, _describe_backend(type(backend).__name__, conn_id))
    return None


def require_connection(conn_id: str) -> LocatedConnection:
    """Return the located Connection, or fail naming the command that creates it."""
    located = find_connection(conn_id)
    if located is None:
        raise CliError(
            f"connection {conn_id!r} is not defined: create it with `airflow lockit authorize --conn-id "
            f"{conn_id} --client-id ID --api-url URL`"
        )
    return located


def save_connection(conn_id: str, fields: dict[str, str], extras: dict[str, str]) -> LocatedConnection:
    """Create or update the ``lockit`` Connection in the metadata DB with the given fields and extras."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type=CONN_TYPE)
            session.add(conn)
        elif conn.conn_type != CONN_TYPE:
            raise CliError(
                f"connection {conn_id!r} has type {conn.conn_type!r}, not {CONN_TYPE!r}: refusing to "
                "change it; choose another --conn-id"
            )
        for name, value in fields.items():
            setattr(conn, name, value)
        if extras:
            conn.set_extra(json.dumps({**conn.extra_dejson, **extras}))
        session.flush()
        session.expunge(conn)
    return LocatedConnection(conn, METADATA_DB)


def _describe_backend(backend: str, conn_id: str) -> str:
    if backend == "MetastoreBackend":
        return METADATA_DB
    if backend == "EnvironmentVariablesBackend":
        return f"environment variable AIRFLOW_CONN_{conn_id.upper()}"
    return f"secrets backend {backend}"
