"""Fixtures for the OAuth core tests: plain http is allowed because the sandbox is on 127.0.0.1."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests-oauthlib refuses http:// unless told; OAuthClientConfig still refuses non-loopback hosts.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
