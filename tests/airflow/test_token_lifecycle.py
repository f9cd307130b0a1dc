"""LockitHook's token lifecycle against the sandbox, with the real Variable store in the metadata DB.

No Airflow scheduler here (see tests/e2e for that): the hook runs in this process, so its Variable
store writes through the ORM, as it does in the CLI and plain scripts.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from lockit_provider.exceptions import (
    LockitConfigError,
    LockitError,
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
    LockitTokenPersistError,
)
from lockit_provider.hooks.lockit import LockitHook
from lockit_provider.oauth.token import TokenRecord
from lockit_provider.sandbox import Sandbox
from lockit_provider.settings import token_variable_name
from lockit_provider.tokens.refresher_factory import build_refresher
from lockit_provider.tokens.variable_store import VariableTokenStore
from tests.support.airflow_db import variable_record
from tests.support.connections import connection_json, new_conn_id, set_connection
from tests.support.counts import issued_tokens, refresh_count
from tests.support.leaks import assert_no_token_in
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("airflow_db", "insecure_transport")


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback http to the sandbox must work without requests-oauthlib's process-wide switch.
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)


@pytest.fixture
def conn_id() -> str:
    return new_conn_id()


def stored_record(conn_id: str) -> TokenRecord | None:
    """Return the live record of ``conn_id`` from the metadata DB."""
    return variable_record(token_variable_name(conn_id))


def expired_connection(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, conn_id: str, **extra: Any
) -> dict[str, Any]:
    """Give the hook a connection whose bootstrap access token has already expired."""
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    set_connection(
        monkeypatch, conn_id, connection_json(sandbox.url, tokens, expires_at=time.time() - 1, **extra)
    )
    return tokens


class FlakyStore:
    """The real Variable store, whose writes fail for the first ``failures`` attempts."""

    def __init__(self, key: str, failures: int) -> None:
        self.inner = VariableTokenStore(key)
        self.name = self.inner.name
        self.failures = failures
        self.attempts = 0

    def load(self) -> TokenRecord | None:
        return self.inner.load()

    def save(self, record: TokenRecord) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("metadata DB unreachable")
        self.inner.save(record)


def hook_with_store(conn_id: str, store: Any) -> LockitHook:
    hook = LockitHook(lockit_conn_id=conn_id)
    hook.__dict__["refresher"] = build_refresher(hook.settings, store=store)
    return hook


def test_expired_token_is_refreshed_persisted_and_used(monkeypatch, sandbox_factory, conn_id):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate-revoke")
    expired_connection(monkeypatch, sandbox, conn_id)
    hook = LockitHook(lockit_conn_id=conn_id)

    projects = hook.get_projects()

    assert {p["name"] for p in projects} >= {"Northern Lights"}
    record = stored_record(conn_id)
    assert record is not None and record.generation == 1
    assert record.refresh_token == sandbox.current_refresh_token()
    assert refresh_count(sandbox) == 1
    # A second hook (a later task) reuses the stored record and spends nothing.
    assert LockitHook(lockit_conn_id=conn_id).get_access_token() == record.access_token
    assert refresh_count(sandbox) == 1


def test_401_triggers_one_refresh_and_a_retry(monkeypatch, sandbox_factory, conn_id):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    tokens = sandbox.issue_tokens()
    set_connection(monkeypatch, conn_id, connection_json(sandbox.url, tokens))
    hook = LockitHook(lockit_conn_id=conn_id)
    assert hook.get_projects()
    assert refresh_count(sandbox) == 0

    sandbox.expire_access_tokens()  # the server revokes early; the client still thinks it is valid
    assert hook.get_projects()

    assert refresh_count(sandbox) == 1
    assert sandbox.stats()["api_requests"]["401"] == 1
    assert stored_record(conn_id).refresh_token == sandbox.current_refresh_token()


def test_connection_reauthorized_by_hand_wins_over_the_live_record(monkeypatch, sandbox_factory, conn_id):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    expired_connection(monkeypatch, sandbox, conn_id)
    LockitHook(lockit_conn_id=conn_id).get_access_token()
    old = stored_record(conn_id)

    fresh = sandbox.issue_tokens()  # a person re-authorized and pasted the new tokens in
    set_connection(monkeypatch, conn_id, connection_json(sandbox.url, fresh))

    assert LockitHook(lockit_conn_id=conn_id).get_access_token() == fresh["access_token"]
    assert refresh_count(sandbox) == 1
    assert old is not None


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "body": "<html><body>Service Unavailable</body></html>"},
        {"status": 502, "body": "<!DOCTYPE html><h1>Bad gateway</h1>"},
        {"status": 200, "malformed": True},
        {"status": 429, "headers": {"Retry-After": "7"}, "body": "{}"},
        {"drop": True},
        {"delay": 3.0, "drop": True},
    ],
    ids=["503-html", "502-html", "malformed-json", "429", "dropped", "timeout"],
)
def test_token_endpoint_faults_are_transient_and_leave_the_store_unchanged(
    monkeypatch, sandbox_factory, conn_id, fault, token_leaks
):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    expired_connection(monkeypatch, sandbox, conn_id, timeout=1)
    hook = LockitHook(lockit_conn_id=conn_id)
    sandbox.add_fault(target="token", **fault)

    with pytest.raises(LockitTokenEndpointError) as info:
        hook.get_access_token()

    message = token_leaks.error(info.value)
    assert "token endpoint" in message.lower() or "token" in message.lower()
    if fault.get("status") == 429:
        assert info.value.retry_after == 7
    assert stored_record(conn_id) is None  # nothing half-written
    # The grant is intact: the next attempt (fault consumed) refreshes normally.
    assert LockitHook(lockit_conn_id=conn_id).get_access_token()
    assert stored_record(conn_id).refresh_token == sandbox.current_refresh_token()


def test_store_write_failure_goes_to_the_journal_and_is_recovered(
    monkeypatch, sandbox_factory, conn_id, token_leaks
):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    expired_connection(monkeypatch, sandbox, conn_id)
    key = token_variable_name(conn_id)
    broken = FlakyStore(key, failures=100)

    with pytest.raises(LockitTokenPersistError) as info:
        hook_with_store(conn_id, broken).get_access_token()

    message = token_leaks.error(info.value)
    journal = Path(info.value.journal_path)
    assert journal.is_file()
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert f"airflow lockit refresh --conn-id {conn_id}" in message
    assert str(journal) in message
    assert broken.attempts == 4  # one try and three retries
    rotated = sandbox.current_refresh_token()
    assert rotated.encode() not in journal.read_bytes()  # encrypted at rest
    assert stored_record(conn_id) is None

    # Next run on this host, store healthy again: the journal entry is replayed, not a new refresh.
    token = LockitHook(lockit_conn_id=conn_id).get_access_token()

    assert stored_record(conn_id).refresh_token == rotated
    assert not journal.exists()
    assert refresh_count(sandbox) == 1
    assert requests.get(f"{sandbox.url}/projects", headers={"Authorization": f"Bearer {token}"}, timeout=5).ok


def test_store_write_that_recovers_within_retries_needs_no_journal(monkeypatch, sandbox_factory, conn_id):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    expired_connection(monkeypatch, sandbox, conn_id)
    store = FlakyStore(token_variable_name(conn_id), failures=2)

    hook_with_store(conn_id, store).get_access_token()

    assert store.attempts == 3
    assert stored_record(conn_id).refresh_token == sandbox.current_refresh_token()


def test_invalid_grant_recovers_from_a_sibling_on_another_host(
    monkeypatch, sandbox_factory, conn_id, tmp_path
):
    """Two hosts (separate lock directories) refresh the same grant at once under rotation."""
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    tokens = sandbox.issue_tokens()
    sandbox.expire_access_tokens()
    expires_at = time.time() - 1  # once: both hosts must see the same Connection tokens
    hosts = []
    for name in ("host-a", "host-b"):
        set_connection(
            monkeypatch,
            conn_id,
            connection_json(sandbox.url, tokens, expires_at=expires_at, state_dir=str(tmp_path / name)),
        )
        hook = LockitHook(lockit_conn_id=conn_id)
        hook.settings  # noqa: B018 - read the connection now, while it names this host's state dir
        hosts.append(hook)
    # Host A's refresh request is held before the sandbox handles it; host B asks meanwhile and rotates
    # the token first, so A's request meets invalid_grant while B is saving the new record.
    sandbox.add_fault(target="token", delay=3.0)
    results: dict[int, Any] = {}

    def call(index: int) -> None:
        try:
            results[index] = hosts[index].get_access_token()
        except Exception as err:
            results[index] = err

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    threads[0].start()
    wait_for(lambda: refresh_count(sandbox) == 1, "host A's refresh request to reach the sandbox")
    threads[1].start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(isinstance(v, str) for v in results.values()), results
    assert results[0] == results[1]
    stats = sandbox.stats()
    assert stats["token_requests"]["refresh_token"] == 2
    assert stats["invalid_grant"] == 1
    assert stored_record(conn_id).refresh_token == sandbox.current_refresh_token()


def test_invalid_grant_without_a_sibling_asks_for_reauthorization(
    monkeypatch, sandbox_factory, conn_id, token_leaks
):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    tokens = sandbox.issue_tokens()
    sandbox.issue_tokens()
    # Spend the refresh token elsewhere (rotation): the connection's copy is now dead.
    requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("lockit-client", "lockit-secret"),
        timeout=5,
    ).raise_for_status()
    set_connection(monkeypatch, conn_id, connection_json(sandbox.url, tokens, expires_at=time.time() - 1))
    hook = LockitHook(lockit_conn_id=conn_id)
    pauses: list[float] = []
    monkeypatch.setattr(hook.refresher, "_sleep", pauses.append)  # Refresher(sleep=): record, do not wait

    with pytest.raises(LockitReauthorizationRequired) as info:
        hook.get_access_token()

    message = token_leaks.error(info.value)
    assert f"airflow lockit authorize --conn-id {conn_id}" in message
    assert info.value.conn_id == conn_id
    assert sum(pauses) >= 10  # it waited (the default 10 s) for a sibling before giving up
    # The dead grant is marked in the store (the connection's tokens, no new ones), so that every other
    # process fails at once instead of spending another request on it.
    marked = stored_record(conn_id)
    assert marked is not None and marked.dead_since is not None
    assert marked.refresh_token == tokens["refresh_token"] and marked.generation == 0
    with pytest.raises(LockitReauthorizationRequired, match="marked dead"):
        LockitHook(lockit_conn_id=conn_id).get_access_token()
    assert sandbox.stats()["invalid_grant"] == 1


def test_missing_client_id_names_the_field(monkeypatch, sandbox, conn_id, token_leaks):
    set_connection(monkeypatch, conn_id, connection_json(sandbox.url, None, client_id=""))
    with pytest.raises(LockitConfigError) as info:
        LockitHook(lockit_conn_id=conn_id).get_access_token()
    assert info.value.field == "login"
    assert "Client ID" in token_leaks.error(info.value)


def test_wrong_client_secret_is_a_config_error(monkeypatch, sandbox_factory, conn_id, token_leaks):
    sandbox = sandbox_factory(auto_approve=True)
    tokens = sandbox.issue_tokens()
    set_connection(
        monkeypatch,
        conn_id,
        connection_json(sandbox.url, tokens, expires_at=time.time() - 1, client_secret="not-the-secret"),
    )
    with pytest.raises(LockitConfigError) as info:
        LockitHook(lockit_conn_id=conn_id).get_access_token()
    assert "Client Secret" in token_leaks.error(info.value)
    assert isinstance(info.value, LockitError)


def test_no_token_reaches_logs_or_errors(monkeypatch, sandbox_factory, conn_id, caplog, token_leaks):
    """Leak scan: every token the sandbox issued, against every log record, repr and error text seen.

    (Other tests scan the errors they see with their own ``token_leaks``.)
    """
    caplog.set_level(logging.DEBUG)
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    expired_connection(monkeypatch, sandbox, conn_id)
    hook = LockitHook(lockit_conn_id=conn_id)
    hook.get_projects()
    sandbox.expire_access_tokens()
    hook.get_projects()
    with pytest.raises(LockitTokenPersistError) as info:
        sandbox.expire_access_tokens()
        hook_with_store(conn_id, FlakyStore(token_variable_name(conn_id), failures=100)).refresher.refresh(
            force=True
        )
    token_leaks.error(info.value)
    # The sandbox (the test double of the server) runs in-process; its oauthlib server side logs
    # tokens at DEBUG. Client-side loggers, oauthlib's included, are all scanned.
    server_side = ("oauthlib.oauth2.rfc6749.endpoints", "oauthlib.oauth2.rfc6749.grant_types")
    texts = [r.getMessage() for r in caplog.records if not r.name.startswith(server_side)]
    assert any(r.name.startswith("lockit_provider") for r in caplog.records)
    texts += [repr(hook.refresher), repr(hook.settings), repr(stored_record(conn_id))]
    texts += token_leaks.texts
    scanned = assert_no_token_in(texts, issued_tokens(sandbox))
    assert scanned > 5
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
