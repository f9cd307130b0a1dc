"""Fixtures for the `airflow lockit` tests: the CLI as subprocesses, sandboxes, the test metadata DB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lockit_provider.sandbox import Sandbox
from tests.cli.harness import LockitCli
from tests.support.connections import free_port
from tests.support.leaks import TokenLeakScan


@pytest.fixture
def cli(airflow_db: object, token_leaks: TokenLeakScan) -> Iterator[LockitCli]:
    """Return a runner of `airflow lockit` subprocesses whose every output is scanned for tokens.

    Processes still running at teardown are killed.
    """
    runner = LockitCli(record=token_leaks.record)
    yield runner
    runner.stop_all()


@pytest.fixture
def start_sandbox(sandbox_factory: Callable[..., Sandbox], cli: LockitCli) -> Callable[..., Sandbox]:
    """Start sandboxes (auto-approving, redirect URI on a free loopback port unless told otherwise).

    Authorization codes live an hour unless told otherwise: a test that runs several `airflow` commands
    between the browser step and the exchange must not depend on how fast they start. The ``cli``
    fixture's leak scan covers every token the sandboxes issue.
    """

    def start(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("auto_approve", True)
        kwargs.setdefault("redirect_uri", f"http://127.0.0.1:{free_port()}/callback")
        kwargs.setdefault("code_ttl", 3600)
        return sandbox_factory(**kwargs)

    return start
