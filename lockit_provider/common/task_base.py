"""What every LockitNetwork operator and sensor shares: defaults, a lazily built hook, failing fast.

DAG files import this at parse time: the hook (requests, the OAuth core) is imported when a task runs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from airflow.sdk import conf

from lockit_provider.exceptions import LockitError, fail_fast

if TYPE_CHECKING:
    from lockit_provider.hooks.lockit import LockitHook

DEFAULT_CONN_ID = "lockit_default"


def default_deferrable(deferrable: bool | None) -> bool:
    """Return ``deferrable``, or the ``[operators] default_deferrable`` setting when it is None."""
    if deferrable is not None:
        return deferrable
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class LockitHookMixin:
    """Give a task a ``hook`` built on first use (never while the DAG file is parsed).

    It takes no constructor arguments: each operator and sensor sets ``lockit_conn_id`` itself.
    """

    lockit_conn_id: str
    #: Level of the hook's per-call log line; a sensor, which polls, logs it at DEBUG.
    hook_call_log_level: int = logging.INFO

    @cached_property
    def hook(self) -> LockitHook:
        """Return the task's LockitHook."""
        from lockit_provider.hooks.lockit import LockitHook

        hook = LockitHook(self.lockit_conn_id)
        hook.call_log_level = self.hook_call_log_level
        return hook


@contextlib.contextmanager
def failing_fast() -> Iterator[None]:
    """Fail the task at once on a provider error that retrying cannot fix.

    Wrap every task boundary (``execute``, ``execute_complete``, ``poke``) in it. A configuration
    error, a dead grant or a 403 becomes ``AirflowFailException`` (its cause is the provider error);
    a transient error passes through as it is, so the task's ``retries`` apply.
    """
    try:
        yield
    except LockitError as err:
        raised = fail_fast(err)
        if raised is err:
            raise
        raise raised from err
