"""Damaged or foreign local state: a clear error naming the file and the fix, or the store is used.

Tests run as root here, and root can read any file: "another user's file" is played by chowning
it to ``nobody`` and making :func:`lockit_provider.oauth.files.effective_uid` (the only place the
provider asks who it runs as) answer an unprivileged uid. Unreadable journal entries are played by a
FIFO, which no read of ours ever accepts as an entry.
"""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from lockit_provider.exceptions import LockitConfigError
from lockit_provider.oauth import files
from lockit_provider.oauth.files import make_private_dir, prepare_lock_file
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import MemoryStore
from tests.support.connections import CLIENT_SECRET
from tests.support.counts import refresh_count as refresh_requests
from tests.support.oauth import REAUTH, issued_record, make_client, offline_record

pytestmark = pytest.mark.timeout(60)

KEY = "lockit_hardening"
NOBODY = 65534
PLAIN_USER = 1000


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def as_plain_user(monkeypatch):
    """Make the provider believe it runs as an unprivileged user (see the module docstring)."""
    monkeypatch.setattr(files, "effective_uid", lambda: PLAIN_USER)


# --- the rescue journal ------------------------------------------------------------------------


def truncated(path):
    path.write_bytes(path.read_bytes()[:40])


def directory_instead(path):
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("x")


def fifo_instead(path):
    path.unlink()
    os.mkfifo(path)


def link_instead(path):
    path.unlink()
    path.symlink_to("/etc/hostname")


def not_an_entry(path):
    path.write_text(json.dumps({"version": 1, "key": KEY}))


DAMAGE = {
    "truncated entry": (truncated, "is damaged (truncated or not a journal entry)"),
    "entry without a record": (not_an_entry, "is damaged (truncated or not a journal entry)"),
    "directory where the file should be": (directory_instead, "is a directory where an entry file should be"),
    "unreadable (a FIFO)": (
        fifo_instead,
        "is not a plain file (a device, socket or pipe where an entry file should be)",
    ),
    "symbolic link": (link_instead, "is a symbolic link, which the journal never follows"),
}


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_journal_entry_is_quarantined_and_the_store_used(sandbox, tmp_path, caplog, case):
    damage, problem = DAMAGE[case]
    caplog.set_level(logging.WARNING)
    valid = issued_record(sandbox)
    store = MemoryStore(valid)
    journal_dir = tmp_path / "journal"
    entry = RescueJournal(journal_dir, CLIENT_SECRET).put(KEY, issued_record(sandbox, generation=9))
    damage(entry)

    for _ in range(2):  # a second process-like refresher: no second warning, nothing left to move
        refresher = Refresher(
            make_client(sandbox),
            store,
            key=KEY,
            bootstrap=None,
            lock_dir=tmp_path / "locks",
            journal=RescueJournal(journal_dir, CLIENT_SECRET),
            reauth_command=REAUTH,
        )
        assert refresher.get_record() is valid

    assert refresh_requests(sandbox) == 0 and store.load() is valid
    (moved,) = RescueJournal(journal_dir, CLIENT_SECRET).quarantined()
    assert moved.name.startswith(entry.name + ".quarantined-") and not os.path.lexists(entry)
    if not moved.is_symlink():
        assert mode(moved) == (0o700 if moved.is_dir() else 0o600)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"The rescue journal entry {entry} {problem}. It was moved aside to {moved} and the token store is "
        "used instead; re-authorize only if token requests then fail and ask for it"
    ]
    assert valid.access_token not in caplog.text and valid.refresh_token not in caplog.text


def test_an_entry_under_an_old_client_secret_is_set_aside_and_can_be_replayed(sandbox, tmp_path, caplog):
    valid = issued_record(sandbox)
    newer = issued_record(sandbox, generation=7)
    RescueJournal(tmp_path, "the-old-secret").put(KEY, newer)
    journal = RescueJournal(tmp_path, CLIENT_SECRET)
    assert journal.get(KEY) is None
    (moved,) = journal.quarantined()
    assert "written under another client secret" in caplog.text
    assert "put the old one back in the connection and move the file back to replay it" in caplog.text
    # The operator's way back: the old secret and the file moved back.
    moved.rename(journal.path_for(KEY))
    assert RescueJournal(tmp_path, "the-old-secret").get(KEY) == newer
    assert valid.refresh_token not in caplog.text


def test_a_damaged_salt_is_set_aside_and_the_journal_keeps_working(tmp_path, sandbox):
    (tmp_path / "salt").mkdir()
    journal = RescueJournal(tmp_path, CLIENT_SECRET)
    record = issued_record(sandbox)
    journal.put(KEY, record)
    assert journal.get(KEY) == record
    assert [p.name.split(".quarantined-")[0] for p in journal.quarantined()] == ["salt"]


def test_a_journal_that_cannot_be_used_never_stops_prepare(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    journal = RescueJournal(blocker / "rescue", CLIENT_SECRET)
    journal.prepare()  # no exception: the token request goes on
    assert "cannot be used" in caplog.text
    with pytest.raises(OSError):
        journal.put(KEY, None)  # type: ignore[arg-type]  # the caller reports an OSError


# --- lock files and directories ----------------------------------------------------------------


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me")
    lock = tmp_path / "locks" / "k.lock"
    lock.parent.mkdir()
    lock.symlink_to(target)
    with pytest.raises(LockitConfigError) as caught:
        prepare_lock_file(lock)
    assert str(caught.value) == (
        f"the lock file {lock} is a symbolic link (to {str(target)!r}); a lock file must be a plain file, "
        f"or locking would follow the link. Remove the link (`rm {lock}`): the provider creates the lock "
        "file itself"
    )
    assert caught.value.field == "state_dir"
    assert target.read_text() == "keep me"


def test_missing_directories_are_created_owner_only(tmp_path):
    lock = tmp_path / "state" / "deeper" / "locks" / "k.lock"
    prepare_lock_file(lock)
    assert stat.S_ISREG(os.lstat(lock).st_mode) and mode(lock) == 0o600
    for directory in (lock.parent, lock.parent.parent, lock.parent.parent.parent):
        assert mode(directory) == 0o700


def test_world_writable_directories_we_own_are_tightened(tmp_path, caplog):
    state = tmp_path / "state"
    locks = state / "locks"
    locks.mkdir(parents=True)
    os.chmod(state, 0o777)
    os.chmod(locks, 0o777)
    prepare_lock_file(locks / "k.lock")
    assert mode(locks) == 0o700  # ours alone
    assert mode(state) == 0o755  # others keep read access to the state directory, not write
    assert f"Tightened {locks} to 0700" in caplog.text


def test_a_lock_file_of_another_user_names_the_file_the_owner_and_the_fix(tmp_path, as_plain_user):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    os.chown(locks, PLAIN_USER, PLAIN_USER)
    lock = locks / "k.lock"
    lock.write_text("")
    os.chown(lock, NOBODY, NOBODY)
    me = files.user_name(PLAIN_USER)
    with pytest.raises(LockitConfigError) as caught:
        prepare_lock_file(lock)
    assert str(caught.value) == (
        f"the lock file {lock} belongs to nobody, not to {me} who runs this process. Lockit's local state on "
        f"a host belongs to the user Airflow runs as: if that is {me}, hand it over with `sudo chown -R {me} "
        f"{lock}`; otherwise run this as nobody (e.g. `sudo -u nobody airflow lockit ...`). A command run as "
        "root hands what it creates to the directory's owner by itself"
    )


def test_a_lock_directory_of_another_user_is_refused_the_same_way(tmp_path, as_plain_user):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    os.chown(locks, NOBODY, NOBODY)
    with pytest.raises(LockitConfigError, match=rf"^the state directory {locks} belongs to nobody, not to "):
        make_private_dir(locks)


def test_root_hands_what_it_creates_to_the_directory_owner(tmp_path):
    # An admin runs `airflow lockit refresh` as root in the Airflow user's state directory.
    assert os.geteuid() == 0, "this test plays root for real"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    lock = state / "locks" / "k.lock"
    prepare_lock_file(lock)
    assert os.lstat(lock.parent).st_uid == NOBODY and os.lstat(lock).st_uid == NOBODY
    # A lock file an older version left root-owned is handed over too.
    old = lock.with_name("old.lock")
    old.write_text("")
    prepare_lock_file(old)
    assert os.lstat(old).st_uid == NOBODY
    journal = RescueJournal(state / "rescue", CLIENT_SECRET)
    entry = journal.put(KEY, offline_record(access_token="A" * 30, refresh_token="R" * 30))
    assert {os.lstat(p).st_uid for p in (entry, entry.parent, entry.parent / "salt")} == {NOBODY}
