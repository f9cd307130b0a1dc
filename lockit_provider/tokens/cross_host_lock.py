"""Pick the cross-host refresh lock of a connection from what the deployment already runs.

In order: the Airflow connection named by the ``lock_conn_id`` extra (type ``redis`` or ``postgres``),
a credential-free ``lock_url``, then, unless ``cross_host_lock`` is ``off``, the Redis that a
CeleryExecutor deployment uses as its broker. Without any of them refreshes are single-flight per
host only, and the refresher warns once it sees another host refresh the same grant.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from lockit_provider.exceptions import LockitConfigError
from lockit_provider.oauth.locks import DEFAULT_TTL, CrossHostLock, PostgresAdvisoryLock, RedisLock
from lockit_provider.settings import LockitSettings

logger = logging.getLogger(__name__)

REDIS_TYPES = ("redis",)
POSTGRES_TYPES = ("postgres", "postgresql")


def cross_host_lock(settings: LockitSettings) -> CrossHostLock | None:
    """Return the lock that spans every host for this connection, or None for host-only locking."""
    key = settings.token_variable
    ttl = max(DEFAULT_TTL, 2 * settings.timeout + 10)  # outlives the slowest token request + save
    if settings.lock_conn_id:
        return _from_connection(settings.lock_conn_id, key, ttl)
    if settings.lock_url:
        return RedisLock.from_url(
            settings.lock_url,
            key,
            description=f"Redis {_where(settings.lock_url)} (extra 'lock_url')",
            ttl=ttl,
        )
    if settings.cross_host_lock == "off":
        return None
    broker = celery_redis_broker()
    if broker is None:
        return None
    return RedisLock.from_url(broker, key, description=f"Redis {_where(broker)} (the Celery broker)", ttl=ttl)


def describe_lock(settings: LockitSettings) -> str:
    """Say which lock is in force for ``airflow lockit status`` (never a password)."""
    try:
        lock = cross_host_lock(settings)
    except LockitConfigError as err:
        return f"misconfigured: {err}"
    if lock is None:
        return "host-only (no cross-host lock: several hosts refreshing this grant can lock each other out)"
    return lock.description


def celery_redis_broker() -> str | None:
    """Return the Celery broker URL when this deployment runs CeleryExecutor on a Redis broker."""
    try:
        from airflow.configuration import conf
    except ImportError:  # pragma: no cover - Airflow is a dependency
        return None
    executor = conf.get("core", "executor", fallback="") or ""
    if "CeleryExecutor" not in executor:
        return None
    try:
        url = conf.get("celery", "broker_url", fallback=None)
    except Exception:  # the Celery provider's config section is absent or its _cmd/_secret failed
        return None
    if url and urlsplit(url).scheme in ("redis", "rediss"):
        return str(url)
    return None


def _where(url: str) -> str:
    """Return ``host:port/db`` of a Redis URL: enough to find it, nothing secret."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def _from_connection(conn_id: str, key: str, ttl: float) -> CrossHostLock:
    conn = _get_connection(conn_id)
    conn_type = (conn.conn_type or "").lower()
    port = conn.port
    if conn_type in REDIS_TYPES:
        extra = conn.extra_dejson or {}
        db = int(extra.get("db", 0) or 0)
        description = f"Redis connection {conn_id!r} ({conn.host}:{port or 6379}/{db})"

        def connect_redis() -> Any:
            from lockit_provider.oauth.locks import _redis_module

            return _redis_module().Redis(
                host=conn.host or "localhost",
                port=int(port or 6379),
                db=db,
                username=conn.login or None,
                password=conn.password or None,
                ssl=str(extra.get("ssl", "")).lower() in ("true", "1"),
                socket_timeout=10,
                socket_connect_timeout=5,
            )

        return RedisLock(connect_redis, key, description=description, ttl=ttl)
    if conn_type in POSTGRES_TYPES:
        database = conn.schema or "postgres"
        description = f"PostgreSQL connection {conn_id!r} ({conn.host}:{port or 5432}/{database})"

        def connect_postgres(application_name: str) -> Any:
            try:
                import psycopg2
            except ImportError:
                raise LockitConfigError(
                    f"extra 'lock_conn_id' names PostgreSQL connection {conn_id!r}, which needs psycopg2: "
                    "pip install psycopg2-binary (or apache-airflow-providers-postgres)",
                    field="lock_conn_id",
                ) from None
            return psycopg2.connect(
                host=conn.host or "localhost",
                port=int(port or 5432),
                user=conn.login or None,
                password=conn.password or None,
                dbname=database,
                connect_timeout=5,
                application_name=application_name,
            )

        return PostgresAdvisoryLock(connect_postgres, key, description=description)
    raise LockitConfigError(
        f"extra 'lock_conn_id' names connection {conn_id!r} of type {conn_type or 'none'!r}; the cross-host "
        "refresh lock needs a connection of type 'redis' or 'postgres'",
        field="lock_conn_id",
    )


def _get_connection(conn_id: str) -> Any:
    """Read a connection in a task or trigger (Task SDK) or in a process with DB access (ORM)."""
    from lockit_provider.tokens.variable_store import in_task_or_trigger

    try:
        if in_task_or_trigger():
            from airflow.sdk import BaseHook

            return BaseHook.get_connection(conn_id)
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)
    except Exception as err:  # AirflowNotFoundException and friends: name the extra to fix
        raise LockitConfigError(
            f"extra 'lock_conn_id' names connection {conn_id!r}, which cannot be read "
            f"({type(err).__name__}): create it (type 'redis' or 'postgres') or clear lock_conn_id",
            field="lock_conn_id",
        ) from None
