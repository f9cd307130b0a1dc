"""User callables that judge a response body: called with context in tasks, by import path in triggers.

A trigger runs in the triggerer, which cannot see functions defined in DAG files (they live in
modules Airflow names ``unusual_prefix_...``), so only module-level functions of importable modules
(or their ``"package.module.function"`` path) can travel to it.
"""

from __future__ import annotations

import importlib.machinery
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[..., Any] | str

_DAG_FILE_MODULE_PREFIX = "unusual_prefix_"


def check_path(check: Check) -> str | None:
    """Return the import path of ``check`` if a triggerer can import it, else None."""
    if isinstance(check, str):
        return check
    module = getattr(check, "__module__", None) or ""
    name = getattr(check, "__qualname__", "")
    if not module or module == "__main__" or module.startswith(_DAG_FILE_MODULE_PREFIX):
        return None
    if not name.isidentifier():  # a lambda, a nested function or a method
        return None
    if importlib.machinery.PathFinder.find_spec(module.split(".")[0]) is None:
        return None
    return f"{module}.{name}"


def load_check(check: Check) -> Callable[..., Any]:
    """Return the callable itself, or import it from its path."""
    if not isinstance(check, str):
        return check
    from airflow.sdk.module_loading import import_string

    loaded: Callable[..., Any] = import_string(check)
    return loaded


def call_with_context(func: Callable[..., Any], body: Any, context: Mapping[str, Any] | None) -> Any:
    """Call ``func(body, **the context values it names)``, as Airflow does for ``response_check``."""
    if not context:
        return func(body)
    from lockit_provider.compat import context_kwargs

    return func(body, **context_kwargs(func, [body], context))


def judge(check: Check | None, body: Any, context: Mapping[str, Any] | None = None) -> tuple[bool, Any]:
    """Return ``(done, xcom_value)``: what ``check`` says of ``body`` (no check: any 2xx is done).

    A check returns a truth value or a ``PokeReturnValue``.
    """
    if check is None:
        return True, None
    verdict = call_with_context(load_check(check), body, context)
    if hasattr(verdict, "is_done"):
        return bool(verdict.is_done), verdict.xcom_value
    return bool(verdict), None


def non_empty(body: Any) -> bool:
    """Say done when the body holds something: a non-empty list or object (ready-made for sensors)."""
    return bool(body)
