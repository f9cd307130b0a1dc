"""Shared fixtures: a private Airflow environment, the embedded LockitNetwork sandbox, leak scans.

Plain helpers (connections, counters, the metadata DB, contention workers) are in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lockit_provider.sandbox import Sandbox
from tests.airflow_env import airflow_db  # noqa: F401 - sets the Airflow environment first; the fixture
from tests.support.counts import issued_tokens
from tests.support.leaks import TokenLeakScan


class SandboxFactory:
    """Start sandboxes with the given keyword arguments and remember them."""

    def __init__(self) -> None:
        self.started: list[Sandbox] = []

    def __call__(self, **kwargs: Any) -> Sandbox:
        sandbox = Sandbox(**kwargs).start()
        self.started.append(sandbox)
        return sandbox

    def issued_tokens(self) -> list[str]:
        """Return every token any of the sandboxes issued."""
        return [token for sandbox in self.started for token in issued_tokens(sandbox)]

    def stop_all(self) -> None:
        """Stop every sandbox."""
        for sandbox in self.started:
            sandbox.stop()


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes with the given keyword arguments; stop them all at teardown."""
    factory = SandboxFactory()
    yield factory
    factory.stop_all()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """Return a running sandbox with default settings and auto-approval."""
    return sandbox_factory(auto_approve=True)


@pytest.fixture
def token_leaks(sandbox_factory: SandboxFactory) -> Iterator[TokenLeakScan]:
    """Collect what the test saw; at teardown fail if a token of the test's sandboxes is in it."""
    scan = TokenLeakScan(sandbox_factory.issued_tokens)
    yield scan
    scan.check()
