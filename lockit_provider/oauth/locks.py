"""Cross-host refresh locks: one refresh of a grant at a time across every host of a deployment.

File locks reach only the processes of one host, and Airflow offers tasks no lock. A server that
revokes a grant when an old refresh token is reused turns one collision between two hosts into a
lockout, so a deployment with several hosts needs a lock service it already runs: Redis (the Celery
broker, or a named connection) or PostgreSQL (an advisory lock).

Both fail closed: when the service cannot be reached or the lock cannot be taken in time, the caller
gets a retryable error and no refresh token is spent. Client libraries are imported only when a lock
is used. Imports no Airflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from lockit_provider.exceptions import LockitConfigError, LockUnavailable, RefreshLockTimeout

DEFAULT_TTL = 70.0  # a holder that died releases a Redis lock after this long


def holder_name() -> str:
    """Return ``host/pid since <UTC time>``: who holds a lock, for messages a person can act on."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{socket.gethostname()}/{os.getpid()} since {since}"


class CrossHostLock(Protocol):
    """A lock every host of a deployment can take; ``description`` names it without any secret."""

    description: str

    def hold(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold the lock for the block; raise LockUnavailable or RefreshLockTimeout, never wait longer."""
        ...


def _unreachable(description: str, error: BaseException) -> LockUnavailable:
    return LockUnavailable(
        f"the cross-host refresh lock ({description}) cannot be reached from {socket.gethostname()} "
        f"({type(error).__name__}); no refresh token was spent. The task can retry; a token that is still "
        "valid keeps being used. Check that service, or change the connection's lock settings",
        lock=description,
    )


def _timed_out(description: str, timeout: float, holder: str | None) -> RefreshLockTimeout:
    who = f" by {holder}" if holder else ""
    return RefreshLockTimeout(
        f"the cross-host refresh lock ({description}) was held{who} for more than {timeout:g} s; "
        "no refresh token was spent, try again later (a holder that died releases it by itself)",
        lock=description,
        holder=holder,
    )


class RedisLock:
    """A Redis lock (SET NX with a TTL) named ``<prefix><key>``; its value names the holder."""

    def __init__(
        self,
        connect: Callable[[], Any],
        key: str,
        *,
        description: str,
        prefix: str = "lockit:refresh:",
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self._connect = connect
        self._client: Any = None
        self.name = f"{prefix}{key}"
        self.description = description
        self._ttl = ttl

    @classmethod
    def from_url(cls, url: str, key: str, *, description: str, ttl: float = DEFAULT_TTL) -> RedisLock:
        """Return a lock on the Redis at ``url`` (redis://, rediss:// or unix://)."""

        def connect() -> Any:
            return _redis_module().Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)

        return cls(connect, key, description=description, ttl=ttl)

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock for the block."""
        redis = _redis_module()
        token = f"{holder_name()} {uuid.uuid4().hex[:8]}"
        try:
            if self._client is None:
                self._client = self._connect()
            lock = self._client.lock(
                self.name, timeout=self._ttl, blocking_timeout=timeout, thread_local=False
            )
            acquired = lock.acquire(token=token)
        except redis.RedisError as err:
            raise _unreachable(self.description, err) from None
        if not acquired:
            raise _timed_out(self.description, timeout, self._holder())
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):
                lock.release()  # expired meanwhile: another host may hold it now, nothing to undo

    def _holder(self) -> str | None:
        with contextlib.suppress(Exception):
            value = self._client.get(self.name)
            if value:
                return str(value.decode("utf-8", "replace") if isinstance(value, bytes) else value).rsplit(
                    " ", 1
                )[0]
        return None


class PostgresAdvisoryLock:
    """A PostgreSQL session advisory lock keyed by the token record's key.

    The server releases it when the holder's connection ends, so a killed holder frees it at once.
    ``application_name`` carries the holder, so a waiter can name it.
    """

    def __init__(self, connect: Callable[[str], Any], key: str, *, description: str) -> None:
        self._connect = connect
        digest = hashlib.sha256(f"lockit:refresh:{key}".encode()).digest()
        self.lock_id = int.from_bytes(digest[:8], "big", signed=True)
        self.description = description

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock for the block (one connection per hold: a session lock lives with it)."""
        holder = holder_name()
        try:
            conn = self._connect(f"lockit {holder}"[:63])
        except Exception as err:  # the driver's own errors: the service is unreachable
            raise _unreachable(self.description, err) from None
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(timeout * 1000)}ms",))
                try:
                    cursor.execute("SELECT pg_advisory_lock(%s)", (self.lock_id,))
                except Exception as err:
                    if getattr(err, "pgcode", None) == "55P03":  # lock_not_available
                        raise _timed_out(self.description, timeout, self._holder(cursor)) from None
                    raise _unreachable(self.description, err) from None
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.close()  # ends the session, which releases the lock

    def _holder(self, cursor: Any) -> str | None:
        with contextlib.suppress(Exception):
            cursor.execute("SELECT set_config('lock_timeout', '0', false)")
            cursor.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s",
                ((self.lock_id >> 32) & 0xFFFFFFFF, self.lock_id & 0xFFFFFFFF),
            )
            row = cursor.fetchone()
            if row and row[0]:
                return str(row[0]).removeprefix("lockit ")
        return None


def _redis_module() -> Any:
    try:
        import redis
    except ImportError:
        raise LockitConfigError(
            "the cross-host refresh lock needs the redis package: "
            "pip install 'airflow-provider-lockit[redis]'",
            field="lock_conn_id",
        ) from None
    return redis
