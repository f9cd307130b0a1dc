"""TLS for the CLI: reach the token endpoint before the browser step, and explain TLS failures.

A private CA that the connection does not name must fail before the user consents in a browser,
with one line that names the host, the verification error and the ``ca_bundle`` extra.
"""

from __future__ import annotations

import os
import socket
import ssl
from urllib.parse import urlsplit

import requests

from lockit_provider.cli.errors import CliError
from lockit_provider.hooks.errors import error_chain
from lockit_provider.settings import LockitSettings


def check_token_endpoint(settings: LockitSettings) -> None:
    """Fail unless a TCP (and for https a verified TLS) connection to the token endpoint works.

    The handshake uses the CA bundle requests would use (the ``ca_bundle`` extra, else
    ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else certifi's) and sends no HTTP request, so the
    server sees no token request. Skipped when a proxy is configured for the URL: requests would go
    through it, and a direct connection proves nothing.
    """
    url = settings.token_url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if requests.utils.get_environ_proxies(url):
        return
    try:
        with socket.create_connection((host, port), timeout=settings.timeout) as sock:
            if parts.scheme == "https":
                context = ssl.create_default_context(cafile=_ca_file(settings))
                with context.wrap_socket(sock, server_hostname=host):
                    pass
    except ssl.SSLError as error:
        raise CliError(tls_message(f"{host}:{port}", error, settings.ca_bundle)) from None
    except OSError as error:
        raise CliError(
            f"cannot reach the token endpoint {host}:{port} ({type(error).__name__}: "
            f"{error.strerror or error}): check the connection's API base URL (--api-url) or the extra "
            "'token_url'"
        ) from None


def tls_message(host: str, error: ssl.SSLError, ca_bundle: str | None, *, known: bool = True) -> str:
    """Return the one-line explanation of a TLS failure with ``host``.

    ``known`` says whether ``ca_bundle`` is what the failed connection used (else the advice is general).
    """
    verify_message = getattr(error, "verify_message", None)
    reason = f"certificate verify failed: {verify_message}" if verify_message else error.reason
    reason = reason or type(error).__name__
    if not known:
        advice = (
            "check the connection's extra 'ca_bundle': for a server whose certificate comes from a "
            "private CA it must be the path of that CA's PEM file (`airflow lockit authorize --ca-bundle "
            "PATH` sets it)"
        )
    elif ca_bundle:
        advice = (
            f"the connection's extra 'ca_bundle' is {ca_bundle!r}: it must hold the CA that signed the "
            "server's certificate (fix it with --ca-bundle PATH)"
        )
    else:
        advice = (
            "the connection's extra 'ca_bundle' is not set: for a server whose certificate comes from a "
            "private CA, pass --ca-bundle PATH (the CA's PEM file; stored in that extra)"
        )
    return f"TLS with {host} failed: {reason} ({type(error).__name__}); {advice}"


def tls_failure(error: BaseException) -> tuple[str, ssl.SSLError] | None:
    """Return ``(host, ssl error)`` behind an error raised by an HTTP request, or None.

    Follows ``__cause__``, ``__context__`` (kept even under ``raise ... from None``), urllib3's
    ``reason`` and exception arguments. A handshake cut short by the peer (EOF) is not a TLS
    configuration problem and gives None.
    """
    host = ""
    for cause in error_chain(error):
        pool = getattr(cause, "pool", None)
        if pool is not None and not host:
            host = f"{getattr(pool, 'host', '')}:{getattr(pool, 'port', '')}"
        if isinstance(cause, ssl.SSLError):
            if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                return None
            return host or "the server", cause
    return None


def _ca_file(settings: LockitSettings) -> str:
    if settings.ca_bundle:
        return settings.ca_bundle
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(variable):
            return os.environ[variable]
    return str(requests.utils.DEFAULT_CA_BUNDLE_PATH)
