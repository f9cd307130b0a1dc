"""Paste mode: read the redirect URL (or, interactively, a bare code) instead of listening for it."""

from __future__ import annotations

import sys

from lockit_provider.cli.errors import CliError
from lockit_provider.oauth.client import OAuthClient

_BARE_CODE_NOTE = (
    "note: a bare code cannot be checked against this request's state; it is accepted only here, at an "
    "interactive prompt. Paste the full redirect URL when you can."
)


def stdin_is_interactive() -> bool:
    """Return whether a person types at standard input (a terminal), not a script or a pipe."""
    return sys.stdin is not None and sys.stdin.isatty()


def prompt_for_redirect() -> str:
    """Ask on stderr for the redirect URL and return the first non-empty line of standard input."""
    print(
        "After approving, your browser is sent to the redirect URI (the page may fail to load there). "
        "Paste that full URL from the address bar, or just the code:",
        file=sys.stderr,
    )
    while True:
        sys.stderr.write("Redirect URL: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise CliError(
                "no redirect URL on standard input; the request stays open for --timeout seconds: finish "
                "it with --redirect-url URL"
            )
        if line.strip():
            return line.strip()


def is_redirect(text: str) -> bool:
    """Return whether pasted text is a redirect URL or its query string rather than a bare code."""
    return "://" in text or "=" in text


def code_from_paste(client: OAuthClient, text: str, *, state: str, interactive: bool) -> str:
    """Return the code from pasted text; a redirect is state-checked, a bare code needs a person."""
    if is_redirect(text):
        url = text if "://" in text or text.startswith("?") else f"?{text}"
        return client.code_from_redirect(url, state=state)
    if not interactive:
        raise CliError(
            "that is not a redirect URL, and a bare code cannot be checked against the request's state: "
            "give the full redirect URL (a bare code is accepted only at an interactive prompt)"
        )
    print(_BARE_CODE_NOTE, file=sys.stderr)
    return text
