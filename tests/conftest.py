"""Shared fixtures: a private Airflow environment and the embedded LockitNetwork sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lockit_provider.sandbox import Sandbox
from tests.airflow_env import airflow_db  # noqa: F401 - sets the Airflow environment first; the fixture


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with the given keyword arguments; stop them all at teardown."""
    started: list[Sandbox] = []

    def start(**kwargs: Any) -> Sandbox:
        sandbox = Sandbox(**kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """Return a running sandbox with default settings and auto-approval."""
    return sandbox_factory(auto_approve=True)
