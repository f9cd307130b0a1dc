"""Refresher against the sandbox: reuse, single-flight, persist-before-use, invalid_grant, rescue."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest
import requests
from filelock import FileLock

from lockit_provider.exceptions import (
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
    LockitTokenPersistError,
    RefreshLockTimeout,
)
from lockit_provider.oauth.files import safe_filename
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import FileStore, MemoryStore
from lockit_provider.oauth.token import TokenRecord, fingerprint
from tests.support.connections import CLIENT_SECRET
from tests.support.counts import refresh_count as refresh_requests
from tests.support.oauth import (
    KEY,
    REAUTH,
    RECOVER,
    expired_store,
    issued_record,
    make_client,
    make_refresher,
)

pytestmark = pytest.mark.timeout(60)

SERVER_LOGGERS = (
    "lockit_provider.sandbox",
    "oauthlib.oauth2.rfc6749.endpoints",
    "oauthlib.oauth2.rfc6749.grant_types",
)


def week_old_record(sandbox, *, expires_in: float) -> TokenRecord:
    """Return a record obtained a week ago that expires in ``expires_in`` seconds."""
    now = time.time()
    return issued_record(sandbox, obtained_at=now - 604800, expires_at=now + expires_in)


def api_status(sandbox, token: str) -> int:
    return requests.get(
        f"{sandbox.url}/projects", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).status_code


class FailingSaves:
    """A store that reads fine but refuses to save until ``healed``."""

    name = "flaky test store"

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.attempts = 0
        self.healed = False

    def load(self) -> TokenRecord | None:
        return self.inner.load()

    def save(self, record: TokenRecord) -> None:
        self.attempts += 1
        if not self.healed:
            raise OSError("variable backend unavailable")
        self.inner.save(record)


# --- the plain paths --------------------------------------------------------------------------


def test_valid_record_is_used_without_spending_anything(sandbox, tmp_path):
    record = issued_record(sandbox)
    refresher = make_refresher(sandbox, MemoryStore(record), tmp_path)
    assert refresher.get_record() == record
    assert refresher.access_token() == record.access_token
    assert refresh_requests(sandbox) == 0


def test_record_inside_the_leeway_is_refreshed_and_saved_before_it_is_returned(sandbox, tmp_path):
    record = week_old_record(sandbox, expires_in=100)  # inside the 300 s leeway
    store = MemoryStore(record)
    refreshed = make_refresher(sandbox, store, tmp_path).get_record()
    assert refreshed.generation == record.generation + 1
    assert store.load() == refreshed
    assert refresh_requests(sandbox) == 1
    assert api_status(sandbox, refreshed.access_token) == 200


def test_jitter_spreads_siblings_and_short_lifetimes_do_not_refresh_every_call(sandbox, tmp_path):
    now = time.time()
    short = issued_record(sandbox, obtained_at=now, expires_at=now + 120)  # lifetime below the leeway
    refresher = make_refresher(sandbox, MemoryStore(short), tmp_path, jitter=60)
    assert 240 < refresher._margin <= 300
    assert refresher.get_record() == short  # refreshes only in the last tenth of its lifetime
    assert refresh_requests(sandbox) == 0


def test_no_token_anywhere_asks_for_authorization(sandbox, tmp_path):
    with pytest.raises(LockitReauthorizationRequired, match=REAUTH):
        make_refresher(sandbox, MemoryStore(), tmp_path).get_record()


def test_expired_record_without_refresh_token_asks_for_reauthorization(sandbox, tmp_path):
    store, record = expired_store(sandbox)
    store.save(dataclasses.replace(record, refresh_token=None))
    with pytest.raises(LockitReauthorizationRequired, match="no refresh token.*" + REAUTH):
        make_refresher(sandbox, store, tmp_path).get_record()


# --- the reactive path after a 401 ---------------------------------------------------------------


def test_refresh_after_401_uses_the_token_a_sibling_stored(sandbox, tmp_path):
    store = MemoryStore(issued_record(sandbox))
    mine = make_refresher(sandbox, store, tmp_path)
    rejected = mine.access_token()
    sibling = make_refresher(sandbox, store, tmp_path).refresh(force=True)
    assert refresh_requests(sandbox) == 1
    assert mine.refresh(rejected_access_token=rejected) == sibling
    assert mine.access_token() == sibling.access_token
    assert refresh_requests(sandbox) == 1


def test_refresh_after_401_of_the_stored_token_refreshes_once(sandbox, tmp_path):
    store = MemoryStore(issued_record(sandbox))
    refresher = make_refresher(sandbox, store, tmp_path)
    rejected = refresher.access_token()
    fresh = refresher.refresh(rejected_access_token=rejected)
    assert fresh.access_token != rejected and store.load() == fresh
    assert refresher.refresh(rejected_access_token=rejected) == fresh
    assert refresh_requests(sandbox) == 1


# --- single flight ----------------------------------------------------------------------------------


def test_threads_of_one_process_share_one_refresh(sandbox, tmp_path):
    store, _ = expired_store(sandbox)
    refreshers = [make_refresher(sandbox, store, tmp_path) for _ in range(2)]
    barrier = threading.Barrier(16)
    tokens: list[str] = []

    def call(refresher: Refresher) -> None:
        barrier.wait()
        tokens.append(refresher.access_token())

    threads = [threading.Thread(target=call, args=(refreshers[n % 2],)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(tokens) == 16 and len(set(tokens)) == 1
    assert refresh_requests(sandbox) == 1
    assert api_status(sandbox, tokens[0]) == 200
    assert stat.S_IMODE(os.stat(tmp_path / "locks").st_mode) == 0o700


def test_lock_held_elsewhere_times_out_clearly(sandbox, tmp_path):
    store, _ = expired_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path, lock_timeout=0.3)
    (tmp_path / "locks").mkdir()
    held = FileLock(tmp_path / "locks" / f"{safe_filename(KEY)}.lock")
    with held, pytest.raises(RefreshLockTimeout, match="held the lock"):
        refresher.get_record()
    assert refresh_requests(sandbox) == 0


# --- invalid_grant ----------------------------------------------------------------------------------


def spent_store(sandbox) -> tuple[MemoryStore, TokenRecord]:
    """Return a store whose expired record's refresh token a sibling already rotated away."""
    store, stale = expired_store(sandbox)
    newer = make_client(sandbox).refresh(stale)  # a sibling on "another host" refreshed first
    return store, newer


def test_invalid_grant_waits_for_the_record_a_sibling_is_writing(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    store, newer = spent_store(sandbox)
    waits: list[float] = []

    def sibling_saves_while_we_wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            store.save(newer)  # the sibling's record lands during the second pause

    got = make_refresher(
        sandbox, store, tmp_path, invalid_grant_wait=5, sleep=sibling_saves_while_we_wait
    ).get_record()
    assert got == newer and len(waits) == 2
    assert sandbox.stats()["invalid_grant"] == 1
    assert api_status(sandbox, got.access_token) == 200


def test_invalid_grant_without_a_newer_record_names_the_authorize_command(sandbox, tmp_path):
    store, _ = spent_store(sandbox)
    before = store.load()
    waits: list[float] = []
    with pytest.raises(LockitReauthorizationRequired) as caught:
        make_refresher(sandbox, store, tmp_path, invalid_grant_wait=0.6, sleep=waits.append).get_record()
    assert sum(waits) == pytest.approx(0.6)  # it waited the whole window for a sibling's record
    assert f"`{REAUTH}`" in str(caught.value) and "invalid_grant" in str(caught.value)
    # The store keeps the tokens, marked dead, so that no other process spends another request on them.
    marked = store.load()
    assert marked.dead_since is not None
    assert dataclasses.replace(marked, dead_since=None) == before
    with pytest.raises(LockitReauthorizationRequired, match="marked dead"):
        make_refresher(sandbox, store, tmp_path / "other-host", sleep=waits.append).get_record()
    assert sandbox.stats()["invalid_grant"] == 1  # the second process sent nothing


def test_no_lock_is_held_while_waiting_for_a_sibling(sandbox, tmp_path):
    store, _ = spent_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path, invalid_grant_wait=1.0)
    held_during_wait: list[bool] = []

    def sleep(seconds: float) -> None:
        lock = FileLock(tmp_path / "locks" / f"{safe_filename(KEY)}.lock", timeout=0)
        try:
            lock.acquire()
            lock.release()
            held_during_wait.append(False)
        except Exception:
            held_during_wait.append(True)

    refresher._sleep = sleep
    with pytest.raises(LockitReauthorizationRequired):
        refresher.get_record()
    assert held_during_wait and not any(held_during_wait)


def test_reauthorization_clears_the_dead_mark(sandbox, tmp_path):
    store, _ = spent_store(sandbox)
    with pytest.raises(LockitReauthorizationRequired):
        make_refresher(sandbox, store, tmp_path, invalid_grant_wait=0, sleep=lambda s: None).get_record()
    fresh = issued_record(sandbox)  # what `airflow lockit authorize` writes
    store.save(fresh)
    assert make_refresher(sandbox, store, tmp_path).get_record() == fresh


# --- transient failures -----------------------------------------------------------------------------

FAULTS = {
    "503 html": {"status": 503, "body": "<html>oops</html>"},
    "429 retry-after": {"status": 429, "headers": {"Retry-After": "3"}},
    "malformed json": {"malformed": True},
    "delay beyond timeout": {"delay": 2.0},
    "dropped connection": {"drop": True},
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_transient_failure_propagates_and_leaves_the_store_alone(sandbox, tmp_path, fault):
    store, record = expired_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path)
    refresher._client.config = dataclasses.replace(refresher._client.config, timeout=0.5)
    sandbox.add_fault(target="token", **FAULTS[fault])
    with pytest.raises(LockitTokenEndpointError):
        refresher.get_record()
    assert store.load() == record
    assert not list((tmp_path / "journal").glob("*.journal"))
    assert refresher.get_record().generation == record.generation + 1  # the fault was one-shot


def test_early_refresh_failing_transiently_keeps_using_the_valid_token(sandbox, tmp_path):
    record = week_old_record(sandbox, expires_in=100)
    refresher = make_refresher(sandbox, MemoryStore(record), tmp_path)
    sandbox.add_fault(target="token", status=503, count=5)
    assert refresher.get_record() == record
    assert refresher.get_record() == record  # backs off instead of hitting the endpoint again
    assert sandbox.stats()["token_requests"].get("refresh_token", 0) == 1


# --- persist before use and the rescue journal ------------------------------------------------------


def test_unsaveable_record_goes_to_the_journal_and_is_replayed_next_time(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate")
    memory, record = expired_store(sandbox)
    failing = FailingSaves(memory)
    with pytest.raises(LockitTokenPersistError) as caught:
        make_refresher(sandbox, failing, tmp_path, persist_retries=2).get_record()
    error = caught.value
    journal_path = Path(error.journal_path)
    assert failing.attempts == 3 and memory.load() == record
    assert journal_path.exists() and stat.S_IMODE(journal_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal_path.parent.stat().st_mode) == 0o700
    rescued = RescueJournal(tmp_path / "journal", CLIENT_SECRET).get(KEY)
    assert rescued is not None and rescued.refresh_token == sandbox.current_refresh_token()
    data = journal_path.read_bytes()
    assert rescued.access_token.encode() not in data and rescued.refresh_token.encode() not in data
    message = str(error)
    assert str(journal_path) in message and f"`{RECOVER}`" in message and failing.name in message
    assert rescued.access_token not in message and rescued.refresh_token not in message

    # Still failing: the next call must not spend the (already rotated) old refresh token again.
    with pytest.raises(LockitTokenPersistError, match="still cannot be saved"):
        make_refresher(sandbox, failing, tmp_path).get_record()
    assert refresh_requests(sandbox) == 1

    failing.healed = True
    replayed = make_refresher(sandbox, failing, tmp_path).get_record()
    assert replayed == rescued and memory.load() == rescued
    assert not journal_path.exists()
    assert refresh_requests(sandbox) == 1
    assert api_status(sandbox, replayed.access_token) == 200


def test_journal_entry_older_than_the_store_is_dropped(sandbox, tmp_path):
    store = MemoryStore(issued_record(sandbox, generation=5))
    journal = RescueJournal(tmp_path / "journal", CLIENT_SECRET)
    journal.put(KEY, issued_record(sandbox, generation=4))
    assert make_refresher(sandbox, store, tmp_path).get_record().generation == 5
    assert not journal.has(KEY)


def test_journal_written_with_another_secret_is_set_aside_and_the_store_used(sandbox, tmp_path):
    # Hardening (issue 9): a journal entry that cannot be read never blocks token requests.
    store = MemoryStore(issued_record(sandbox))
    journal = RescueJournal(tmp_path / "journal", "the-old-secret")
    journal.put(KEY, issued_record(sandbox))
    assert make_refresher(sandbox, store, tmp_path).get_record() is store.load()
    assert not journal.has(KEY) and len(journal.quarantined()) == 1
    assert refresh_requests(sandbox) == 0


def test_without_a_journal_a_failed_save_says_the_token_may_be_spent(sandbox, tmp_path):
    memory, _ = expired_store(sandbox)
    with pytest.raises(LockitTokenPersistError, match="no rescue journal.*" + REAUTH):
        make_refresher(sandbox, FailingSaves(memory), tmp_path, journal=None, persist_retries=0).get_record()


# --- bootstrap from the Connection --------------------------------------------------------------------


def test_changed_connection_tokens_win_over_the_live_record(sandbox, tmp_path):
    live = issued_record(sandbox, bootstrap_fingerprint=fingerprint("old", "old", 1), generation=9)
    boot_tokens = issued_record(sandbox)
    boot = dataclasses.replace(boot_tokens, generation=0, bootstrap_fingerprint=boot_tokens.fingerprint())
    got = make_refresher(sandbox, MemoryStore(live), tmp_path, bootstrap=boot).get_record()
    assert got.access_token == boot.access_token and got.generation == 10


def test_expired_bootstrap_is_refreshed_into_the_store(sandbox, tmp_path):
    boot = issued_record(sandbox, expires_at=0.0, generation=0)
    store = MemoryStore()
    got = make_refresher(sandbox, store, tmp_path, bootstrap=boot).get_record()
    assert got.generation == 1 and store.load() == got
    assert got.bootstrap_fingerprint == boot.fingerprint()
    # The live record now descends from the Connection tokens, so it wins from here on.
    assert make_refresher(sandbox, store, tmp_path, bootstrap=boot).get_record() == got


# --- secrets stay out of logs and go to the masker --------------------------------------------------


def test_every_token_is_announced_and_none_is_logged(sandbox, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store, record = expired_store(sandbox)
    announced: list[str] = []
    refresher = make_refresher(sandbox, store, tmp_path, on_new_token=announced.append)
    fresh = refresher.get_record()
    refresher.get_record()
    assert announced == [record.access_token, record.refresh_token, fresh.access_token, fresh.refresh_token]
    # The sandbox's own oauthlib server logs tokens at DEBUG: look at the client side only.
    client_side = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(SERVER_LOGGERS)
    )
    assert "Refreshed the token for lockit_test" in client_side
    assert "POST /oauth/access-token" in client_side  # urllib3 DEBUG lines are in view
    for secret in (*announced, CLIENT_SECRET):
        assert secret not in client_side


def test_file_store_works_with_the_refresher(sandbox, tmp_path):
    store = FileStore(tmp_path / "token.json")
    store.save(issued_record(sandbox, expires_at=time.time() - 1))
    got = make_refresher(sandbox, store, tmp_path).get_record()
    assert FileStore(tmp_path / "token.json").load() == got
    assert "Refresher(key='lockit_test'" in repr(make_refresher(sandbox, store, tmp_path))
    assert got.access_token not in repr(make_refresher(sandbox, store, tmp_path))
