"""Fixtures shared by the end-to-end modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.sandbox_process import SandboxProcess


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[SandboxProcess]:
    """Run the sandbox as its own process (default flags) for one test module."""
    with SandboxProcess() as process:
        yield process
