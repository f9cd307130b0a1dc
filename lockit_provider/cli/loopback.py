"""Receive the OAuth redirect on a loopback redirect URI (RFC 8252 section 7.3) with ``http.server``.

The listener binds the loopback address only, on the redirect URI's port, answers exactly one
redirect on the redirect URI's path and hands the full redirect URL to a callback that checks
``state`` and redeems the code; the browser gets a page saying how that went. Stray requests never
end the wait: another path is a 404, a request on the path without the authorization's ``state``
(a favicon fetch, a port scanner, a stale tab) is a 400, and the listener keeps waiting.
"""

from __future__ import annotations

import hmac
import html
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit

from lockit_provider.cli.errors import EXPECTED_ERRORS, CliError, one_line
from lockit_provider.oauth.client import LOOPBACK_HOSTS

T = TypeVar("T")


def is_loopback_redirect(redirect_uri: str) -> bool:
    """Return whether this CLI can receive the redirect itself (plain http on a loopback host)."""
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class _Server(ThreadingHTTPServer, Generic[T]):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        redirect_uri: str,
        redeem: Callable[[str], T],
        family: int,
        state: str | None,
    ) -> None:
        self.address_family = family
        super().__init__(address, _Handler)
        parts = urlsplit(redirect_uri)
        self.callback_path = parts.path or "/"
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.redeem = redeem
        self.state = state
        self.strays = 0
        self.lock = threading.Lock()
        self.received = threading.Event()  # the redirect arrived (the timeout stops counting)
        self.done = threading.Event()  # ... and was redeemed, or failed
        self.result: T | None = None
        self.error: Exception | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a browser hangs up early; the outcome is already recorded."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server[Any]

    def do_GET(self) -> None:
        """Answer the one redirect; stray requests get a 404 or 400 and do not count."""
        parts = urlsplit(self.path)
        if parts.path != self.server.callback_path:
            self._stray(404, "Not found", "This address only receives the LockitNetwork redirect.")
            return
        problem = self._not_the_redirect(dict(parse_qsl(parts.query)))
        if problem:
            self._stray(400, "Not the authorization redirect", f"{problem}; the terminal keeps waiting.")
            return
        with self.server.lock:
            if self.server.received.is_set():
                self._page(409, "Already handled", "The authorization was already received. Close this tab.")
                return
            self.server.received.set()
            try:
                self.server.result = self.server.redeem(self.server.origin + self.path)
            except Exception as error:
                self.server.error = error
                reason = one_line(error) if isinstance(error, EXPECTED_ERRORS) else "unexpected error"
                self._page(
                    400,
                    "Authorization failed",
                    f"{reason}. Return to the terminal for details; nothing was stored.",
                )
            else:
                self._page(
                    200,
                    "Authorization complete",
                    "LockitNetwork granted access. You can close this tab; the terminal stores the tokens.",
                )
            finally:
                self.server.done.set()

    def _not_the_redirect(self, params: dict[str, str]) -> str | None:
        """Say why a request on the callback path is not this authorization's redirect, or None."""
        if "state" not in params:
            return "This request carries no state, so it is not the LockitNetwork redirect"
        if self.server.state is not None and not hmac.compare_digest(params["state"], self.server.state):
            return "This request's state belongs to another authorization"
        if "code" not in params and "error" not in params:
            return "This request carries neither a code nor an error"
        return None

    def _stray(self, status: int, title: str, message: str) -> None:
        with self.server.lock:
            self.server.strays += 1
        self._page(status, title, message)

    def _page(self, status: int, title: str, message: str) -> None:
        body = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")  # the URL carries the code
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines carry the authorization code."""


class LoopbackReceiver(Generic[T]):
    """Listen on a loopback redirect URI and redeem the first redirect that reaches its path."""

    def __init__(self, redirect_uri: str, redeem: Callable[[str], T], *, state: str | None = None) -> None:
        """Bind the listener; with ``state``, only a redirect carrying it is redeemed."""
        parts = urlsplit(redirect_uri)
        ipv6 = parts.hostname == "::1"
        host = "::1" if ipv6 else "127.0.0.1"  # never a wildcard address: only this host may answer
        port = parts.port or 80
        try:
            self._server: _Server[T] = _Server(
                (host, port), redirect_uri, redeem, socket.AF_INET6 if ipv6 else socket.AF_INET, state
            )
        except OSError as error:
            raise CliError(
                f"cannot listen on {host} port {port} for the redirect ({error.strerror or error}): "
                "stop whatever uses that port, or use --paste"
            ) from None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoopbackReceiver[T]:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="lockit-loopback", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def wait(self, timeout: float) -> T:
        """Return what ``redeem`` returned for the redirect; raise its error, or CliError on timeout."""
        if not self._server.received.wait(timeout):
            strays = self._server.strays
            ignored = f" ({strays} other request(s) to the port were turned away)" if strays else ""
            raise CliError(
                f"no redirect arrived within {timeout:g} s{ignored}: approve in the browser sooner (or raise "
                "--timeout), or use --paste"
            )
        # Redeeming has its own HTTP timeout; a code being exchanged must not be abandoned midway.
        self._server.done.wait()
        with self._server.lock:  # the handler may still be writing its page
            if self._server.error is not None:
                raise self._server.error
            return self._server.result  # type: ignore[return-value]
