"""Several hosts, one grant: fail closed when the lock is down, warn without one, spread the refreshes.

The hosts are refreshers with lock directories of their own (no shared file lock), as on two machines.
What needs a running Redis or PostgreSQL is in tests/services/test_locks.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from lockit_provider.exceptions import LockitConfigError, LockUnavailable, RefreshLockTimeout
from lockit_provider.oauth.locks import RedisLock
from lockit_provider.oauth.store import MemoryStore
from tests.support.counts import refresh_count as refresh_requests
from tests.support.oauth import expired_store, issued_record, make_refresher

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _fresh_process_warnings() -> Iterator[None]:
    """Forget which keys this process warned about: each test is a process of its own."""
    import lockit_provider.oauth.refresher as refresher_module

    refresher_module._warned_other_hosts.clear()
    yield
    refresher_module._warned_other_hosts.clear()


def unreachable_redis() -> RedisLock:
    """Return a lock on a Redis URL where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return RedisLock.from_url(f"redis://127.0.0.1:{port}/0", "k", description=f"Redis 127.0.0.1:{port}/0")


class RecordingLock:
    """A cross-host lock that counts its holds, standing in for a service where one is not needed."""

    description = "recording lock"

    def __init__(self) -> None:
        self.holds = 0

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        self.holds += 1
        yield


def test_lock_service_down_and_token_expired_spends_nothing_and_names_the_lock(sandbox, tmp_path):
    store, record = expired_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path, cross_host_lock=unreachable_redis())
    with pytest.raises(LockUnavailable) as caught:
        refresher.get_record()
    error = caught.value
    assert error.retryable
    assert "Redis 127.0.0.1:" in str(error) and socket.gethostname() in str(error)
    assert "no refresh token was spent" in str(error)
    assert refresh_requests(sandbox) == 0
    assert store.load() == record


def test_lock_service_down_keeps_using_a_token_that_is_still_valid(sandbox, tmp_path, caplog):
    now = time.time()
    due = issued_record(sandbox, obtained_at=now - 3600, expires_at=now + 100)  # inside the leeway
    refresher = make_refresher(sandbox, MemoryStore(due), tmp_path, cross_host_lock=unreachable_redis())
    with caplog.at_level(logging.WARNING, logger="lockit_provider.oauth.refresher"):
        assert refresher.get_record() == due
        assert refresher.get_record() == due  # backs off: no second attempt right away
    assert refresh_requests(sandbox) == 0
    warnings = [r for r in caplog.records if "Early token refresh" in r.getMessage()]
    assert len(warnings) == 1 and "LockUnavailable" not in warnings[0].getMessage()
    assert "cannot be reached" in warnings[0].getMessage()


def test_the_cross_host_lock_is_taken_around_every_refresh_and_said_once(sandbox, tmp_path, caplog):
    store, _ = expired_store(sandbox)
    lock = RecordingLock()
    refresher = make_refresher(sandbox, store, tmp_path, cross_host_lock=lock)
    with caplog.at_level(logging.INFO, logger="lockit_provider.oauth.refresher"):
        refresher.get_record()
        refresher.refresh(force=True)
    assert lock.holds == 2 and refresh_requests(sandbox) == 2
    said = [r for r in caplog.records if "single-flight across hosts" in r.getMessage()]
    assert len(said) == 1 and "recording lock" in said[0].getMessage()


def test_another_host_refreshing_without_a_cross_host_lock_warns_once(sandbox, tmp_path, caplog):
    store, _ = expired_store(sandbox)
    host_a = make_refresher(sandbox, store, tmp_path / "host-a")
    host_a.get_record()
    host_b = make_refresher(sandbox, store, tmp_path / "host-b")
    with caplog.at_level(logging.WARNING, logger="lockit_provider.oauth.refresher"):
        host_b.refresh(force=True)
        host_a.refresh(force=True)  # host A now sees B's refresh, but this process has warned already
    warnings = [r.getMessage() for r in caplog.records if "no cross-host lock" in r.getMessage()]
    assert len(warnings) == 1
    assert "revokes" in warnings[0] and "lock_conn_id" in warnings[0]
    assert f"{socket.gethostname()}/" in warnings[0]


def test_no_warning_when_a_cross_host_lock_is_in_force(sandbox, tmp_path, caplog):
    store, _ = expired_store(sandbox)
    make_refresher(sandbox, store, tmp_path / "a", cross_host_lock=RecordingLock()).get_record()
    with caplog.at_level(logging.WARNING, logger="lockit_provider.oauth.refresher"):
        make_refresher(sandbox, store, tmp_path / "b", cross_host_lock=RecordingLock()).refresh(force=True)
    assert not [r for r in caplog.records if "no cross-host lock" in r.getMessage()]


def test_short_tokens_fall_due_at_different_moments_per_process(sandbox, tmp_path):
    now = 1_000_000.0
    record = issued_record(sandbox, obtained_at=now, expires_at=now + 8)
    early = make_refresher(sandbox, MemoryStore(record), tmp_path, rand=lambda: 1.0)
    late = make_refresher(sandbox, MemoryStore(record), tmp_path, rand=lambda: 0.0)
    due_at = {}
    for name, refresher in (("early", early), ("late", late)):
        moment = now
        while not refresher._is_due(record, moment):
            moment += 0.01
        due_at[name] = round(now + 8 - moment, 2)
    assert due_at["early"] == pytest.approx(1.2, abs=0.02)  # 15 % of the lifetime before expiry
    assert due_at["late"] == pytest.approx(1.0, abs=0.02)  # never less than MIN_MARGIN (1 s)


def test_a_frozen_holder_is_named_in_the_timeout(sandbox, tmp_path):
    store, _ = expired_store(sandbox)
    sandbox.add_fault(target="token", delay=3.0)
    holder = make_refresher(sandbox, store, tmp_path)
    entered = threading.Event()
    original = holder._client.refresh

    def slow_refresh(record):
        entered.set()
        return original(record)

    holder._client.refresh = slow_refresh
    thread = threading.Thread(target=holder.get_record)
    thread.start()
    assert entered.wait(30)
    waiter = make_refresher(sandbox, store, tmp_path, lock_timeout=0.2)
    with pytest.raises(RefreshLockTimeout) as caught:
        waiter.refresh(force=True)
    thread.join(30)
    assert caught.value.holder is not None and caught.value.holder.startswith(socket.gethostname())
    assert f"held by {caught.value.holder}" in str(caught.value)


def test_a_symlink_at_the_lock_path_is_refused_and_nothing_is_spent(sandbox, tmp_path):
    store, _ = expired_store(sandbox)
    refresher = make_refresher(sandbox, store, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "locks").mkdir(mode=0o700)
    refresher._lock_path.symlink_to(victim)
    with pytest.raises(LockitConfigError) as caught:
        refresher.get_record()
    assert caught.value.field == "state_dir" and "symbolic link" in str(caught.value)
    assert victim.read_text() == "keep me" and refresh_requests(sandbox) == 0


def test_an_impossible_state_dir_names_the_extra(sandbox, tmp_path):
    store, _ = expired_store(sandbox)
    (tmp_path / "file").write_text("")
    refresher = make_refresher(sandbox, store, tmp_path, lock_dir=tmp_path / "file" / "locks")
    with pytest.raises(LockitConfigError) as caught:
        refresher.get_record()
    assert caught.value.field == "state_dir" and "state_dir" in str(caught.value)
    assert refresh_requests(sandbox) == 0


def test_a_variable_holding_another_clients_tokens_is_refused(sandbox, tmp_path):
    store, record = expired_store(sandbox)
    store.save(dataclasses.replace(record, client_id="someone-else"))
    with pytest.raises(LockitConfigError) as caught:
        make_refresher(sandbox, store, tmp_path).get_record()
    assert caught.value.field == "token_variable"
    assert "'someone-else'" in str(caught.value) and "token_variable" in str(caught.value)
    assert refresh_requests(sandbox) == 0


def test_a_connection_token_of_unknown_age_is_not_refreshed_on_first_use(sandbox, tmp_path):
    # What `authorize` left in the Connection: no obtained_at. Its time left bounds its lifetime from
    # below, so a fresh short token is used, not refreshed by every host's first call.
    now = time.time()
    fresh = issued_record(sandbox, obtained_at=0.0, expires_at=now + 8)
    assert make_refresher(sandbox, MemoryStore(fresh), tmp_path).get_record() == fresh
    nearly_gone = issued_record(sandbox, obtained_at=0.0, expires_at=now + 0.5)
    refreshed = make_refresher(sandbox, MemoryStore(nearly_gone), tmp_path / "b").get_record()
    assert refreshed.generation == nearly_gone.generation + 1 and refresh_requests(sandbox) == 1
