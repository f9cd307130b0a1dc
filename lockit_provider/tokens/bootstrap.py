"""The bootstrap record: tokens kept in the Connection's extras.

`airflow lockit authorize` writes them (it runs with metadata-DB access); a Connection set by hand or
from an ``AIRFLOW_CONN_*`` variable carries them the same way. Tasks only read them.
"""

from __future__ import annotations

from lockit_provider.oauth.token import TokenRecord, fingerprint
from lockit_provider.settings import LockitSettings

BOOTSTRAP_KEYS = ("access_token", "refresh_token", "expires_at")


def bootstrap_record(settings: LockitSettings) -> TokenRecord | None:
    """Return the Connection's tokens as a record, or None when it holds no refresh token."""
    boot = settings.bootstrap
    if not boot.refresh_token and not boot.access_token:
        return None
    # Without an expiry the access token's age is unknown: treat it as expired so it is refreshed.
    expires_at = boot.expires_at if boot.expires_at is not None else 0.0
    return TokenRecord(
        access_token=boot.access_token or "",
        refresh_token=boot.refresh_token,
        expires_at=expires_at,
        obtained_at=0.0,
        obtained_by=f"connection {settings.conn_id}",
        generation=0,
        bootstrap_fingerprint=fingerprint(boot.access_token, boot.refresh_token, boot.expires_at),
    )


def write_bootstrap(conn_id: str, record: TokenRecord) -> None:
    """Store a record's tokens in the Connection's extras through the metadata DB (CLI only)."""
    import json

    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is None:
            raise LookupError(f"connection {conn_id!r} is not in the metadata DB")
        extras = dict(conn.extra_dejson)
        extras.update(
            access_token=record.access_token,
            refresh_token=record.refresh_token,
            expires_at=int(record.expires_at),
        )
        conn.set_extra(json.dumps(extras))
