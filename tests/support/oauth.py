"""The OAuth core for tests: clients, records, stores and refreshers pointed at a sandbox."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import MemoryStore, TokenStore
from lockit_provider.oauth.token import TokenRecord
from lockit_provider.sandbox import Sandbox
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

REAUTH = "airflow lockit authorize --conn-id lockit_test"
RECOVER = "airflow lockit refresh --conn-id lockit_test"
KEY = "lockit_test"


def make_config(sandbox: Sandbox, **overrides: Any) -> OAuthClientConfig:
    """Return a client configuration pointing at ``sandbox``."""
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": sandbox.authorize_url,
        "token_url": sandbox.token_url,
        "redirect_uri": REDIRECT_URI,
        "timeout": 5.0,
        **overrides,
    }
    return OAuthClientConfig(**settings)


def make_client(sandbox: Sandbox, session: requests.Session | None = None, **overrides: Any) -> OAuthClient:
    """Return a client for ``sandbox``."""
    return OAuthClient(make_config(sandbox, **overrides), session)


def issued_record(sandbox: Sandbox, **changes: Any) -> TokenRecord:
    """Run a grant inside the sandbox and return its tokens as a record (with ``changes`` applied)."""
    record = TokenRecord.from_token_response(
        sandbox.issue_tokens(), previous=None, now=time.time(), obtained_by="test/0"
    )
    return dataclasses.replace(record, **changes)


def offline_record(**changes: Any) -> TokenRecord:
    """Return a record no server issued (for tests that never reach a token endpoint with it)."""
    record = TokenRecord(
        access_token="a" * 30,
        refresh_token="r" * 30,
        expires_at=0,
        obtained_at=0,
        obtained_by="t/0",
        generation=1,
    )
    return dataclasses.replace(record, **changes)


def expired_store(sandbox: Sandbox) -> tuple[MemoryStore, TokenRecord]:
    """Return a store holding a record whose access token expired a minute ago."""
    record = issued_record(sandbox, expires_at=time.time() - 60)
    return MemoryStore(record), record


class RecordingAdapter(HTTPAdapter):
    """A transport adapter that keeps every request it sent and the response it got."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[requests.PreparedRequest, requests.Response]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        self.exchanges.append((request, response))
        return response


def recording_session() -> tuple[requests.Session, RecordingAdapter]:
    """Return a session whose http:// traffic goes through a RecordingAdapter."""
    session = requests.Session()
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    return session, adapter


def make_refresher(sandbox: Sandbox, store: TokenStore, tmp_path: Path, **overrides: Any) -> Refresher:
    """Return a Refresher on ``store`` with its lock and journal under ``tmp_path`` (no jitter)."""
    settings = {
        "key": KEY,
        "bootstrap": None,
        "lock_dir": tmp_path / "locks",
        "journal": RescueJournal(tmp_path / "journal", CLIENT_SECRET),
        "reauth_command": REAUTH,
        "recover_command": RECOVER,
        "jitter": 0,
        "sleep": lambda seconds: time.sleep(min(seconds, 0.05)),
        **overrides,
    }
    return Refresher(make_client(sandbox), store, **settings)
