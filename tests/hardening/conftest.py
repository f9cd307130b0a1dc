"""Fixtures for the hardening suite: a leak check that follows exception chains and DEBUG logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import pytest

from tests.support.leaks import error_texts, leaked


@pytest.fixture
def assert_no_leak(caplog: pytest.LogCaptureFixture) -> Callable[..., None]:
    """Return a check that no secret is in an error, its chain, its args or any log record (DEBUG on)."""
    caplog.set_level(logging.DEBUG)

    def check(error: BaseException | None, secrets: Iterable[str | None]) -> None:
        texts = [record.getMessage() for record in caplog.records]
        if error is not None:
            texts += error_texts(error)
        assert not leaked(texts, [secret for secret in secrets if secret]), "a secret leaked"

    return check
