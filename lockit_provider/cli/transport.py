"""Refuse plain-http OAuth endpoints up front, with a message that says how to proceed."""

from __future__ import annotations

from oauthlib.oauth2.rfc6749.utils import is_secure_transport

from lockit_provider.cli.errors import CliError


def require_secure_transport(*urls: str) -> None:
    """Fail before any request when requests-oauthlib would refuse one of ``urls`` as insecure."""
    for url in urls:
        if not is_secure_transport(url):
            raise CliError(
                f"{url} is plain http, which requests-oauthlib refuses: serve it over https (with the "
                "connection extra 'ca_bundle' for a private CA) or, for a local sandbox only, set "
                "OAUTHLIB_INSECURE_TRANSPORT=1"
            )
