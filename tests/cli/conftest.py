"""Fixtures for the `airflow lockit` tests: the CLI as subprocesses, sandboxes, the test metadata DB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lockit_provider.sandbox import Sandbox
from tests.cli.harness import LockitCli, free_port, issued_tokens


@pytest.fixture
def cli(airflow_db: object) -> Iterator[LockitCli]:
    """Return a runner of `airflow lockit` subprocesses; kill any still running at teardown."""
    runner = LockitCli()
    yield runner
    runner.stop_all()


@pytest.fixture
def start_sandbox(
    sandbox_factory: Callable[..., Sandbox], cli: LockitCli
) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes (auto-approving, redirect URI on a free loopback port unless told otherwise).

    At teardown, no token any of them issued may appear in any output of the CLI.
    """
    started: list[Sandbox] = []

    def start(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("auto_approve", True)
        kwargs.setdefault("redirect_uri", f"http://127.0.0.1:{free_port()}/callback")
        sandbox = sandbox_factory(**kwargs)
        started.append(sandbox)
        return sandbox

    yield start
    tokens = [token for sandbox in started for token in issued_tokens(sandbox)]
    leaked = [token[:6] for token in tokens for output in cli.outputs if token in output]
    assert not leaked, f"tokens (first characters shown) appeared in CLI output: {leaked}"
