"""Refuse plain-http OAuth endpoints up front, with a message that says how to proceed."""

from __future__ import annotations

from urllib.parse import urlsplit

from lockit_provider.cli.errors import CliError
from lockit_provider.oauth.client import is_allowed_transport


def require_secure_transport(*urls: str) -> None:
    """Fail before any request when one of ``urls`` is plain http to a host other than this one.

    The same gate as the OAuth client's: https, or http to 127.0.0.1, ::1 or localhost (a local
    sandbox). No environment variable is needed or consulted.
    """
    for url in urls:
        if not is_allowed_transport(url):
            parts = urlsplit(url)
            raise CliError(
                f"the endpoint on {parts.hostname or url!r} is plain {parts.scheme or 'text'}: serve it over "
                "https (with the connection extra 'ca_bundle' for a private CA); plain http is accepted only "
                "for 127.0.0.1, ::1 and localhost"
            )
