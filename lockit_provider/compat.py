"""Every private Airflow internal the provider touches, in one place.

Airflow's public surface (``airflow.sdk``, ``airflow.triggers.base``, ``airflow.cli.cli_config``) does
not cover everything a provider that keeps OAuth tokens needs: reading a Variable past the task's
secrets cache, telling a task process from the CLI, reading connections from the metadata DB in a
plain process, and calling user callables the way Airflow does. Each such reach into Airflow's
internals lives here, with why it is needed and the Airflow versions it was checked on, so an
upgrade has one file to re-check (``make test-compat`` runs the unit tier and a real-scheduler
end-to-end test on the lowest and the newest Airflow the package declares).

Importing this module imports no Airflow: every function imports what it needs when called, because
``lockit_provider/__init__.py`` and the CLI definition are imported by every ``airflow`` command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The versions every function below was checked on (by reading its source and by `make test-compat`).
CHECKED_ON = ("3.2.0 (task SDK 1.2.0)", "3.3.2 (task SDK 1.3.2)")


def invalidate_cached_variable(key: str) -> None:
    """Drop ``key`` from the task SDK's secrets cache, so the next ``Variable.get`` reads through.

    Why: with ``[secrets] use_cache`` on, a task or trigger can see a Variable value up to
    ``cache_ttl_seconds`` old. The token store must see a sibling's refreshed record at once, or it
    would spend a refresh token that was already rotated away.
    Internal: ``airflow.sdk.execution_time.cache.SecretCache.invalidate_variable`` (a classmethod; a
    no-op while the cache is off). Checked on 3.2.0 and 3.3.2.
    """
    from airflow.sdk.execution_time.cache import SecretCache

    SecretCache.invalidate_variable(key)


def has_supervisor_comms() -> bool:
    """Tell whether this process talks to Airflow through a supervisor (a task runner or the triggerer).

    Why: Variables must be written through the Execution API there (the ORM is blocked) and through
    the metadata DB everywhere else (the CLI, a plain script). There is no public "am I in a task"
    call that also answers inside the triggerer's trigger runner.
    Internal: the module global ``airflow.sdk.execution_time.task_runner.SUPERVISOR_COMMS``, which the
    task runner and the triggerer's runner set at start-up; it is absent or None elsewhere. Checked on
    3.2.0 and 3.3.2.
    """
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - the task SDK ships with every Airflow 3
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def in_trigger_runner() -> bool:
    """Tell whether the running event loop is the triggerer's trigger runner (False off any loop).

    Why: the provider tunes the garbage collector of that process only
    (:mod:`lockit_provider.triggers.heap`), never of a task, a test or ``airflow dags test``, which
    run triggers in loops of their own. There is no public "am I the triggerer" call.
    Internal: the runner's loop runs the coroutine ``TriggerRunner.block_watchdog``
    (``airflow.jobs.triggerer_job_runner``) for as long as it lives. Checked on 3.2.0 and 3.3.2.
    """
    import asyncio

    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop
        return False
    return any(
        getattr(task.get_coro(), "__qualname__", None) == "TriggerRunner.block_watchdog" for task in tasks
    )


def use_server_process_context() -> None:
    """Declare this process a server-side process, as Airflow's own CLI commands are.

    Why: outside a task, Airflow 3 puts the metadata DB on the secrets search path only in the
    ``server`` context (the task SDK's ``ensure_secrets_backend_loaded``: a supervisor's comms mean
    client, ``_AIRFLOW_PROCESS_CONTEXT=server`` means server, anything else gets environment variables
    and the configured backend only). ``Connection.get`` and ``Variable.get`` in the CLI, the demo and
    plain scripts must see the metadata DB, as ``airflow connections get`` does (it sets the same).
    Internal: the environment variable ``_AIRFLOW_PROCESS_CONTEXT`` (``server`` or ``client``). Set it
    before the first secrets lookup. Checked on 3.2.0 and 3.3.2.
    """
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"


def secrets_backends() -> list[Any]:
    """Return the ordered secrets backends Airflow's server-side connection lookup walks.

    Why: the CLI must know not only a connection but which backend supplied it (only one in the
    metadata DB can be written), so it walks the list itself instead of calling
    ``BaseHook.get_connection``.
    Internal: ``airflow.configuration.ensure_secrets_loaded()`` (the configured backend, then
    ``EnvironmentVariablesBackend``, then ``MetastoreBackend``). Checked on 3.2.0 and 3.3.2.
    """
    use_server_process_context()
    from airflow.configuration import ensure_secrets_loaded

    return list(ensure_secrets_loaded())


def context_kwargs(
    func: Callable[..., Any], args: Sequence[Any], context: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Return the context values ``func`` asks for by name, as Airflow passes them to a ``response_check``.

    Why: ``response_check(body, ti, ...)`` should behave as in the HTTP provider's operators, where the
    callable names the context keys it wants (or takes ``**context``).
    Internal: ``airflow.sdk.bases.decorator.determine_kwargs`` (what ``@task`` and the HTTP operator
    use). Checked on 3.2.0 and 3.3.2.
    """
    from airflow.sdk.bases.decorator import determine_kwargs

    return determine_kwargs(func, list(args), context)


def metadata_engine() -> Engine:
    """Return the SQLAlchemy engine of the metadata DB in a CLI process.

    Why: ``airflow lockit`` checks up front that the metadata DB is migrated, so a fresh
    ``AIRFLOW_HOME`` gives one line naming ``airflow db migrate`` instead of an ORM traceback.
    Internal: ``airflow.settings.get_engine()`` (the module global ``engine`` before it was a function).
    Checked on 3.2.0 and 3.3.2.
    """
    from airflow import settings

    get_engine = getattr(settings, "get_engine", None)
    if get_engine is not None:
        engine: Engine = get_engine()
        return engine
    if settings.engine is None:  # pragma: no cover - the CLI configures the ORM at import
        settings.configure_orm()
    return cast("Engine", settings.engine)
