"""The ``airflow lockit`` commands; ``definition`` loads this module only when one of them runs.

Each command takes the parsed argparse namespace, prints no secret, exits 0 on success and otherwise
exits 1 with ``lockit <command>: <reason>`` on stderr (no traceback for an expected failure).
"""

from __future__ import annotations

import argparse

from lockit_provider.cli.authorization import run_authorize
from lockit_provider.cli.connections import require_connection
from lockit_provider.cli.errors import cli_errors
from lockit_provider.cli.output import print_fields, record_lines
from lockit_provider.cli.status_report import run_status
from lockit_provider.cli.transport import require_secure_transport
from lockit_provider.settings import settings_from_connection
from lockit_provider.tokens.bootstrap import write_bootstrap
from lockit_provider.tokens.refresher_factory import build_refresher


def authorize(args: argparse.Namespace) -> None:
    """Run the OAuth authorization for a connection and store its tokens."""
    with cli_errors("authorize"):
        run_authorize(args)


def status(args: argparse.Namespace) -> None:
    """Show which token record is in force, when it expires and who obtained it."""
    with cli_errors("status"):
        run_status(args)


def refresh(args: argparse.Namespace) -> None:
    """Refresh the access token now, through the same single-flight refresher tasks use."""
    with cli_errors("refresh"):
        located = require_connection(args.conn_id)
        settings = settings_from_connection(located.conn)
        require_secure_transport(settings.token_url)
        # force=True spends the refresh token even when the stored one looks valid; inside the locks
        # it first replays this host's rescue-journal entry into the store.
        refresher = build_refresher(settings)
        record = refresher.refresh(force=True)
        stored = f"Airflow Variable {settings.token_variable!r}"
        if located.in_metadata_db:
            # The Connection then carries the current tokens: an export never holds a spent one.
            record = refresher.sync_bootstrap(lambda live: write_bootstrap(settings.conn_id, live)) or record
            stored += " and the connection's extras"
        fields = [("stored in", stored), ("refresh lock", refresher.lock_description), *record_lines(record)]
        print_fields(f"Refreshed connection {settings.conn_id!r}.", fields)
