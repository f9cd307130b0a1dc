"""A refresh lock shared by every host, on the Redis a Celery deployment already runs.

Airflow offers tasks no lock; file locks only reach the processes of one host. Where Redis is
available, this makes refreshes single-flight across hosts too. redis-py is imported only when a
connection names a ``lock_url``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lockit_provider.exceptions import LockitConfigError, RefreshLockTimeout

LOCK_TTL = 120.0  # a crashed holder releases the lock after this long


class RedisRefreshLock:
    """Context-manager factory: ``with lock(): ...`` holds ``lockit:refresh:<key>`` in Redis."""

    def __init__(self, url: str, key: str, *, wait: float = 120.0, ttl: float = LOCK_TTL) -> None:
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise LockitConfigError(
                f"extra 'lock_url' must be a redis://, rediss:// or unix:// URL, not {_safe(url)!r}",
                field="lock_url",
            )
        self._url = url
        self._name = f"lockit:refresh:{key}"
        self._wait = wait
        self._ttl = ttl
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            try:
                import redis
            except ImportError:
                raise LockitConfigError(
                    "extra 'lock_url' needs the redis package: pip install 'airflow-provider-lockit[redis]'",
                    field="lock_url",
                ) from None
            self._client = redis.Redis.from_url(self._url, socket_timeout=10, socket_connect_timeout=5)
        return self._client

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        import redis

        lock = self._redis().lock(self._name, timeout=self._ttl, blocking_timeout=self._wait)
        try:
            acquired = lock.acquire()
        except redis.RedisError as err:
            raise RefreshLockTimeout(
                f"the cross-host refresh lock at {_safe(self._url)} (extra 'lock_url') is unreachable "
                f"({type(err).__name__}); fix or clear lock_url"
            ) from None
        if not acquired:
            raise RefreshLockTimeout(
                f"another host held the refresh lock {self._name} for more than {self._wait:g} s; "
                "try again later"
            )
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):
                lock.release()  # expired meanwhile: another host may hold it now, nothing to undo


def _safe(url: str) -> str:
    """Return the URL without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
