"""``airflow lockit status``: which token record is in force and what is known about it, no secret."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from lockit_provider.cli.connections import LocatedConnection, require_connection
from lockit_provider.cli.errors import CliError
from lockit_provider.cli.output import iso, print_fields, print_json, record_lines, when
from lockit_provider.exceptions import TokenRecordError
from lockit_provider.oauth.journal import JournalEntry
from lockit_provider.oauth.token import TokenRecord, choose_record
from lockit_provider.settings import LockitSettings, settings_from_connection
from lockit_provider.tokens.bootstrap import bootstrap_record, write_bootstrap
from lockit_provider.tokens.cross_host_lock import describe_lock
from lockit_provider.tokens.refresher_factory import build_refresher, rescue_journal
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
    lock: str  # the lock that keeps refreshes single-flight
    quarantined: list[str]  # damaged rescue-journal files moved aside on this host

    @property
    def hosts(self) -> list[str]:
        """Return the hosts (or state dirs) that refreshed recently, newest first."""
        seen: dict[str, None] = {}
        for refresh in parse_history(self.record):
            seen.setdefault(f"{refresh.host} (state {refresh.domain})", None)
        return list(seen)

    @property
    def unlocked_hosts_warning(self) -> str | None:
        """Say what is missing when several locking domains refresh without a cross-host lock."""
        if not self.lock.startswith("host-only") or len(self.hosts) < 2:
            return None
        return (
            f"{len(self.hosts)} hosts refresh this grant without a cross-host lock: a server that revokes "
            "on reuse will lock them out. Set the extra 'lock_conn_id' (a 'redis' or 'postgres' connection) "
            "or run CeleryExecutor with a Redis broker"
        )


@dataclass(frozen=True)
class Refresh:
    """One entry of a record's history: who refreshed, when, and in which locking domain."""

    actor: str  # host/pid
    at: float
    domain: str  # a digest of the lock directory: processes sharing it share the file lock

    @property
    def host(self) -> str:
        """Return the host name part of ``actor``."""
        return self.actor.partition("/")[0]


def parse_history(record: TokenRecord | None) -> list[Refresh]:
    """Return the refreshes a record remembers, newest first; unparseable entries are skipped."""
    found = []
    for entry in record.history if record is not None else ():
        actor, _, rest = entry.partition("@")
        at, _, domain = rest.partition("#")
        if actor and at.isdigit():
            found.append(Refresh(actor, float(at), domain))
    return found


def run_status(args: argparse.Namespace) -> None:
    """Print the connection's token status as text or JSON; ``--sync`` first copies it to the Connection."""
    located = require_connection(args.conn_id)
    settings = settings_from_connection(located.conn)
    if getattr(args, "sync", False):
        _sync(located, settings)
        located = require_connection(args.conn_id)
        settings = settings_from_connection(located.conn)
    status = token_status(located, settings)
    if args.json:
        print_json(status_json(status))
    else:
        print_status(status)


def _sync(located: LocatedConnection, settings: LockitSettings) -> None:
    """Write the live record into the Connection's extras (metadata DB only), under the refresh lock."""
    if not located.in_metadata_db:
        raise CliError(
            f"connection {settings.conn_id!r} comes from the {located.source}, which this command cannot "
            "write: copy the tokens there yourself, or move the connection into the metadata DB"
        )
    synced = build_refresher(settings).sync_bootstrap(lambda live: write_bootstrap(settings.conn_id, live))
    if synced is None:
        raise CliError(f"there is no token to sync: run `{settings.reauth_command}`")


def token_status(located: LocatedConnection, settings: LockitSettings) -> TokenStatus:
    """Read the store, the Connection's bootstrap tokens and the journal; decide as the refresher does."""
    store_error = None
    try:
        live = VariableTokenStore(settings.token_variable).load()
    except TokenRecordError as error:
        live, store_error = None, str(error)
    record = choose_record(live, bootstrap_record(settings))
    source = None if record is None else "store" if record is live else "connection"
    journal, quarantined = None, []
    if settings.client_secret:
        rescue = rescue_journal(settings)
        journal = [e for e in rescue.entries() if e.key == settings.token_variable]
        quarantined = [str(path) for path in rescue.quarantined()]
    return TokenStatus(
        located, settings, record, source, store_error, journal, describe_lock(settings), quarantined
    )


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
    data["lock"] = status.lock
    data["quarantined"] = status.quarantined
    data["recent_refreshers"] = [
        {"actor": r.actor, "at": iso(r.at), "state": r.domain} for r in parse_history(record)
    ]
    data["warning"] = status.unlocked_hosts_warning
    data["dead_since"] = iso(record.dead_since) if record is not None and record.dead_since else None
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
    if status.record is not None and status.record.dead_since:
        fields.append(
            ("grant", f"dead since {when(status.record.dead_since)}: run `{settings.reauth_command}`")
        )
    fields.append(("refresh lock", status.lock))
    refreshes = parse_history(status.record)
    if refreshes:
        fields.append(
            ("refreshed by", "; ".join(f"{r.actor} (state {r.domain}) {when(r.at)}" for r in refreshes[:4]))
        )
    if status.unlocked_hosts_warning:
        fields.append(("WARNING", status.unlocked_hosts_warning))
    fields.append(("rescue journal", _journal_text(status.journal)))
    if status.quarantined:
        fields.append(("set aside", "; ".join(status.quarantined) + " (damaged journal files: see docs)"))
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
