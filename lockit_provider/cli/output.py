"""What the commands print: times a person can read, token metadata, never a token."""

from __future__ import annotations

import json
import sys
import threading
import webbrowser
from typing import Any

import pendulum

from lockit_provider.oauth.token import TokenRecord


def when(epoch: float | None) -> str:
    """Return an epoch time as ``2026-05-20 10:00:00 UTC (in 6 days)``; ``unknown`` for None."""
    if epoch is None:
        return "unknown"
    moment = pendulum.from_timestamp(epoch)
    return f"{moment.format('YYYY-MM-DD HH:mm:ss')} UTC ({moment.diff_for_humans()})"


def iso(epoch: float | None) -> str | None:
    """Return an epoch time as an ISO 8601 UTC string, or None."""
    return None if epoch is None else pendulum.from_timestamp(epoch).to_iso8601_string()


def record_lines(record: TokenRecord) -> list[tuple[str, str]]:
    """Describe a record for people: expiry, provenance, generation and fingerprint, no token."""
    return [
        ("expires", when(record.expires_at)),
        ("obtained", f"{when(record.obtained_at or None)} by {record.obtained_by}"),
        ("generation", str(record.generation)),
        ("fingerprint", record.fingerprint()),
        ("refresh token", "present" if record.refresh_token else "none"),
    ]


def print_fields(title: str, fields: list[tuple[str, str]]) -> None:
    """Print a title and aligned ``name: value`` lines on stdout."""
    width = max(len(name) for name, _ in fields) + 1
    print(title)
    for name, value in fields:
        print(f"  {name + ':':<{width}} {value}")


def print_json(data: dict[str, Any]) -> None:
    """Print ``data`` as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2)
    print()


def note(message: str) -> None:
    """Print a message for the person at the terminal (stderr, so stdout stays parseable)."""
    print(message, file=sys.stderr, flush=True)


def show_authorization_url(url: str, conn_id: str, *, open_browser: bool) -> None:
    """Print the URL alone on a stdout line at once (scripts read it) and open a browser if there is one."""
    note(f"Open this URL in a browser to authorize connection {conn_id!r}:")
    print(url, flush=True)
    if not open_browser:
        return
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        note("(no browser found here: open the URL yourself)")
        return
    # A console browser may block until it exits; the redirect must still be received meanwhile.
    threading.Thread(target=browser.open, args=(url,), name="lockit-browser", daemon=True).start()
