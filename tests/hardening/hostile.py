"""A small hostile HTTP server on 127.0.0.1: answers each connection with a scripted misbehaviour.

The script gets the raw request and the socket, and may write anything at any pace. Every request
and how many bytes the script managed to send are recorded, so a test can tell what the client did
(sent the refresh token on? hung up early?) without timing it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    """One connection the server saw."""

    request: bytes
    sent: int = 0  # bytes the script wrote before it finished or the client hung up
    client_hung_up: bool = False


Script = Callable[[socket.socket, bytes], None]


@dataclass
class HostileServer:
    """Serve ``script`` to every connection until stopped; use as a context manager."""

    script: Script
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="hostile-server", daemon=True)

    @property
    def port(self) -> int:
        """Return the port it listens on."""
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        exchange = Exchange(request=_read_request(conn))
        self.exchanges.append(exchange)
        counting = _CountingSocket(conn, exchange, self._stop)
        try:
            self.script(counting, exchange.request)  # type: ignore[arg-type]
        except OSError:
            exchange.client_hung_up = True
        finally:
            conn.close()


class _CountingSocket:
    """Count what the script sends; stop the script when the server stops."""

    def __init__(self, conn: socket.socket, exchange: Exchange, stop: threading.Event) -> None:
        self._conn = conn
        self._exchange = exchange
        self._stop = stop

    def sendall(self, data: bytes) -> None:
        if self._stop.is_set():
            raise OSError("server stopping")
        self._conn.sendall(data)
        self._exchange.sent += len(data)

    def wait(self, seconds: float) -> None:
        """Pause the script (ends early when the server stops)."""
        if self._stop.wait(seconds):
            raise OSError("server stopping")


def _read_request(conn: socket.socket) -> bytes:
    """Read the request head and a Content-Length body."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
    except OSError:
        return data


def respond(status: str, body: bytes, headers: dict[str, str] | None = None) -> Script:
    """Return a script that answers once, whole, with ``status``, ``headers`` and ``body``."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def script(conn: Any, request: bytes) -> None:
        conn.sendall(payload)

    return script
