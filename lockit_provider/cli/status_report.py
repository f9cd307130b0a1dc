"""``airflow lockit status``: which token record is in force and what is known about it, no secret."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from lockit_provider.cli.connections import LocatedConnection, require_connection
from lockit_provider.cli.output import iso, print_fields, print_json, record_lines, when
from lockit_provider.exceptions import TokenRecordError
from lockit_provider.oauth.journal import JournalEntry
from lockit_provider.oauth.token import TokenRecord, choose_record
from lockit_provider.settings import LockitSettings, settings_from_connection
from lockit_provider.tokens.bootstrap import bootstrap_record
from lockit_provider.tokens.refresher_factory import rescue_journal
from lockit_provider.tokens.variable_store import VariableTokenStore


@dataclass(frozen=True)
class TokenStatus:
    """The record tasks would use now, where it comes from, and this host's rescue-journal entries."""

    located: LocatedConnection
    settings: LockitSettings
    record: TokenRecord | None
    source: str | None  # "store" (the live record) or "connection" (the bootstrap tokens)
    store_error: str | None
    journal: list[JournalEntry] | None  # None: not readable without the client secret


def run_status(args: argparse.Namespace) -> None:
    """Print the connection's token status as text or JSON."""
    located = require_connection(args.conn_id)
    status = token_status(located, settings_from_connection(located.conn))
    if args.json:
        print_json(status_json(status))
    else:
        print_status(status)


def token_status(located: LocatedConnection, settings: LockitSettings) -> TokenStatus:
    """Read the store, the Connection's bootstrap tokens and the journal; decide as the refresher does."""
    store_error = None
    try:
        live = VariableTokenStore(settings.token_variable).load()
    except TokenRecordError as error:
        live, store_error = None, str(error)
    record = choose_record(live, bootstrap_record(settings))
    source = None if record is None else "store" if record is live else "connection"
    journal = None
    if settings.client_secret:
        journal = [e for e in rescue_journal(settings).entries() if e.key == settings.token_variable]
    return TokenStatus(located, settings, record, source, store_error, journal)


def status_json(status: TokenStatus) -> dict[str, Any]:
    """Return the status as JSON-ready data (metadata only)."""
    record = status.record
    data: dict[str, Any] = {
        "conn_id": status.settings.conn_id,
        "connection_source": status.located.source,
        "api_url": status.settings.api_url,
        "store": status.settings.token_variable,
        "store_error": status.store_error,
        "source": status.source,
        "expires_at": None,
        "expires_in": None,
        "obtained_at": None,
        "obtained_by": None,
        "generation": None,
        "fingerprint": None,
        "has_refresh_token": None,
    }
    if record is not None:
        data.update(
            expires_at=iso(record.expires_at),
            expires_in=int(record.expires_at - time.time()),
            obtained_at=iso(record.obtained_at or None),
            obtained_by=record.obtained_by,
            generation=record.generation,
            fingerprint=record.fingerprint(),
            has_refresh_token=bool(record.refresh_token),
        )
    data["journal"] = None
    if status.journal is not None:
        data["journal"] = [
            {"generation": e.generation, "written_at": iso(e.written_at), "path": str(e.path)}
            for e in status.journal
        ]
    return data


def print_status(status: TokenStatus) -> None:
    """Print the status for a person."""
    settings = status.settings
    store = f"Airflow Variable {settings.token_variable!r}"
    if status.store_error:
        store += f" (unreadable: {status.store_error})"
    fields = [("connection from", f"the {status.located.source}"), ("token store", store)]
    if status.record is None:
        fields.append(("in force", f"no token: run `{settings.reauth_command}`"))
    elif status.source == "store":
        fields.append(("in force", "the live record in the token store"))
    else:
        fields.append(
            ("in force", "the connection's bootstrap tokens (newer than the store's record, or it has none)")
        )
    if status.record is not None:
        fields += record_lines(status.record)
    fields.append(("rescue journal", _journal_text(status.journal)))
    print_fields(f"Connection {settings.conn_id!r} ({settings.api_url})", fields)


def _journal_text(entries: list[JournalEntry] | None) -> str:
    if entries is None:
        return "not checked (the connection has no client secret)"
    if not entries:
        return "no entry on this host"
    return "; ".join(
        f"generation {e.generation} written {when(e.written_at)} at {e.path} (replayed by the next refresh)"
        for e in entries
    )
