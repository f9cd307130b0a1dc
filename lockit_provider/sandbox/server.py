"""The ``Sandbox``: the sandbox application served over HTTP(S) on a daemon thread."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from lockit_provider.sandbox.app import SandboxApp
from lockit_provider.sandbox.config import ClientConfig, RefreshPolicy
from lockit_provider.sandbox.faults import Fault
from lockit_provider.sandbox.messages import Request, Response, error_response
from lockit_provider.sandbox.oauth import AUTHORIZE_PATH, TOKEN_PATH


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # listen() backlog: Python's default of 5 drops SYNs when a thousand clients connect at once
    # (bench/triggerer_scale.py); the kernel caps it at net.core.somaxconn.
    request_queue_size = 1024
    block_on_close = False  # stop() must not wait for a request stuck in an injected delay

    def __init__(self, address: tuple[str, int], app: SandboxApp, verbose: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.app = app
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, dropped-connection faults) are normal here.
        if self.verbose or not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per request on loopback
    wbufsize = 1 << 16  # headers and body leave in one write when the handler flushes
    timeout = 60  # idle keep-alive connections give their thread back eventually
    server: _Server
    server_version = "LockitNetworkSandbox/1.0"

    def do_GET(self) -> None:
        """Answer a GET request."""
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._send(error_response(400, "invalid_request", "Bad Content-Length header."))
            return
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
        )
        try:
            response = self.server.app.handle(request)
        except Exception:  # a sandbox bug: answer 500 and show it
            traceback.print_exc()
            response = error_response(500, "server_error", "The sandbox failed; see its stderr.")
        if response.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Log a request line to stderr only when verbose."""
        if self.server.verbose:
            super().log_message(format, *args)


class Sandbox:
    """An embedded LockitNetwork: OAuth 2.0 authorization server, API and fault injection.

    Use ``start()``/``stop()`` or ``with Sandbox(...) as sb:``. See docs/sandbox.md.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "lockit-client",
        client_secret: str = "lockit-secret",  # noqa: S107 - a test double's well-known default
        redirect_uri: str = "http://127.0.0.1:8765/callback",
        refresh_policy: str = "rotate",
        expires_in: int = 604800,
        auto_approve: bool = False,
        tls: bool = False,
        loopback_any_port: bool = False,
        code_ttl: float = 60,
        verbose: bool = False,
    ) -> None:
        self.config = ClientConfig(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            policy=RefreshPolicy.parse(refresh_policy),
            expires_in=expires_in,
            code_ttl=code_ttl,
            auto_approve=auto_approve,
            loopback_any_port=loopback_any_port,
        )
        self._address = (host, port)
        self._tls = tls
        self._verbose = verbose
        self._app = SandboxApp(self.config)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cert_dir: str | None = None
        self.ca_cert_path: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind, start serving on a daemon thread and return self."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        server = _Server(self._address, self._app, self._verbose)
        if self._tls:
            self._wrap_tls(server)
        self._server = server
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="lockit-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def _wrap_tls(self, server: _Server) -> None:
        # Imported here: cryptography takes tens of milliseconds to import.
        from lockit_provider.sandbox.tls import server_context, write_certificates

        self._cert_dir = tempfile.mkdtemp(prefix="lockit-sandbox-tls-")
        ca_path, cert_path, key_path = write_certificates(Path(self._cert_dir), self._address[0])
        # The handshake happens on the handler thread, not in accept() on the serving thread.
        server.socket = server_context(cert_path, key_path).wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.ca_cert_path = str(ca_path)

    def stop(self) -> None:
        """Stop serving, close the socket and remove the TLS files."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        host, port = self._server.socket.getsockname()[:2]
        if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
            host = "127.0.0.1"
        if ":" in str(host):
            host = f"[{host}]"
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    @property
    def authorize_url(self) -> str:
        """Return the authorization endpoint URL."""
        return self.url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        """Return the token endpoint URL."""
        return self.url + TOKEN_PATH

    # --- control (the same internals as the /_sandbox/ routes) ----------------------------------
    def stats(self) -> dict[str, Any]:
        """Return the same dict as ``GET /_sandbox/stats``."""
        return self._app.stats()

    def add_fault(
        self,
        target: str,
        status: int | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0,
        drop: bool = False,
        malformed: bool = False,
        count: int = 1,
        path: str | None = None,
        process: bool = False,
    ) -> None:
        """Queue a fault for the next ``count`` requests to ``target`` (see docs/sandbox.md)."""
        self._app.add_fault(
            Fault(target, status, body, dict(headers or {}), delay, drop, malformed, count, path, process)
        )

    def add_clips(self, project: str, day: str, clips: list[str], after: float = 0) -> None:
        """Make clip names match on a shooting day ``after`` seconds from now."""
        self._app.add_clips(project, day, clips, after)

    def issue_tokens(self) -> dict[str, Any]:
        """Run a full authorization code grant in-process and return the token response."""
        return self._app.issue_tokens()

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired now."""
        self._app.state.expire_access_tokens()

    def current_refresh_token(self, access_or_refresh_token: str | None = None) -> str | None:
        """Return the current refresh token of the only grant, or of the grant a token belongs to.

        Returns None when that grant has been revoked.
        """
        return self._app.state.current_refresh_token(access_or_refresh_token)

    def reset(self) -> None:
        """Clear queued faults and zero the counters (grants and tokens stay)."""
        self._app.reset()
