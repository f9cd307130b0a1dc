"""An overall deadline for one HTTP exchange made with requests, enforced by shutting its socket down.

requests' timeouts apply per socket read, so a server that dribbles a byte per read never times out
(and a refresh holds its lock meanwhile). Connections made by :class:`DeadlineAdapter` hand their
socket to the deadline running in the calling thread; one watchdog thread per process shuts the
sockets of every exchange whose time is up, which ends any blocked read at once.

One shared thread, not a timer per exchange: a ``threading.Timer`` costs a thread start per API
call (about 0.3 ms here, a third of a whole call to the sandbox).
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "lockit_http_deadline", default=None
)


class Deadline:
    """The time one exchange may take; ``expired`` tells whether the watchdog ended it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._active = False
        self.expired = False

    def remaining(self) -> float:
        """Return the seconds left, never below a millisecond (a zero timeout means "no timeout")."""
        return max(0.001, self.ends - time.monotonic())

    def attach(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down when the time is up (at once if it already is)."""
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shutdown(sock)
            elif self._active:
                self._sockets.append(sock)

    def expire(self) -> None:
        """End the exchange: shut down every socket it uses (called by the watchdog)."""
        with self._lock:
            if not self._active:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    @contextlib.contextmanager
    def running(self) -> Iterator[Deadline]:
        """Watch the block; stop watching before a connection can go back to the pool."""
        with self._lock:
            self._active = True
        entry = _watchdog.watch(self)
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
            with self._lock:
                self._active = False
                self._sockets.clear()
            _watchdog.forget(entry)


class _Watchdog:
    """One daemon thread that expires deadlines in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cancelled: set[int] = set()
        self._wake = threading.Condition()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> int:
        entry = next(self._ids)
        with self._wake:
            heapq.heappush(self._heap, (deadline.ends, entry, deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lockit-http-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][1] == entry:  # only a new earliest deadline changes how long it sleeps
                self._wake.notify()
        return entry

    def forget(self, entry: int) -> None:
        with self._wake:
            self._cancelled.add(entry)

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._wake.wait()
                    continue
                ends, entry, deadline = self._heap[0]
                delay = ends - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if entry not in self._cancelled:
                    deadline.expire()
                self._cancelled.discard(entry)


_watchdog = _Watchdog()


def _new_watchdog() -> None:
    """Give a forked child a watchdog of its own: the parent's thread does not exist there."""
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(HTTPConnection):
    """Hand the socket to the running deadline before waiting for the answer."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _current.get()
        if deadline is not None:
            deadline.attach(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """Hand the socket to the running deadline before waiting for the answer."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _current.get()
        if deadline is not None:
            deadline.attach(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections let the running deadline cover the whole exchange."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with connection classes that report their socket."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }


def mount_deadline_adapters(session: Any) -> None:
    """Mount :class:`DeadlineAdapter` on a requests session for http and https."""
    session.mount("https://", DeadlineAdapter())
    session.mount("http://", DeadlineAdapter())
