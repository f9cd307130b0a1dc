"""Fixtures for the hardening suite: a leak check that follows exception chains and DEBUG logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import pytest


def exception_chain(error: BaseException) -> list[BaseException]:
    """Return ``error`` and everything reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return seen


@pytest.fixture
def assert_no_leak(caplog: pytest.LogCaptureFixture) -> Callable[..., None]:
    """Return a check that no secret is in an error, its chain, its args or any log record (DEBUG on)."""
    caplog.set_level(logging.DEBUG)

    def check(error: BaseException | None, secrets: Iterable[str | None]) -> None:
        texts = [record.getMessage() for record in caplog.records]
        if error is not None:
            for link in exception_chain(error):
                texts += [str(link), repr(link), *(str(arg) for arg in link.args)]
                texts += [str(value) for value in vars(link).values()]
        for secret in secrets:
            if secret:
                assert not [text for text in texts if secret in text], "a secret leaked"

    return check
