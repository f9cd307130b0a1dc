"""MemoryStore, FileStore and the encrypted RescueJournal."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from lockit_provider.exceptions import TokenRecordError
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.store import FileStore, MemoryStore, TokenStore
from lockit_provider.oauth.token import TokenRecord

SECRET = "client-secret-value"


def record(generation: int = 1) -> TokenRecord:
    return TokenRecord(
        access_token=f"access-{generation}-QWERTYUIOPASDFGHJKL",
        refresh_token=f"refresh-{generation}-ZXCVBNMQWERTYUIOP",
        expires_at=2_000_000_000.0,
        obtained_at=1_999_000_000.0,
        obtained_by="host/42",
        generation=generation,
    )


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_stores_satisfy_the_protocol(tmp_path):
    stores: list[TokenStore] = [MemoryStore(), FileStore(tmp_path / "t.json")]
    assert [store.name for store in stores] == ["memory store", f"token file {tmp_path / 't.json'}"]


def test_memory_store_round_trip():
    store = MemoryStore()
    assert store.load() is None
    store.save(record(2))
    assert store.load() == record(2)


def test_file_store_is_atomic_private_and_round_trips(tmp_path):
    path = tmp_path / "state" / "token.json"
    store = FileStore(path)
    assert store.load() is None
    store.save(record(1))
    store.save(record(2))
    assert store.load() == record(2)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.json"]  # no temp file left behind


def test_file_store_writers_never_leave_a_torn_file(tmp_path):
    store = FileStore(tmp_path / "token.json")
    store.save(record(0))
    seen: list[int] = []

    def write(first: int) -> None:
        for generation in range(first, first + 30):
            store.save(record(generation))

    def read() -> None:
        for _ in range(200):
            loaded = store.load()
            assert loaded is not None
            seen.append(loaded.generation)

    threads = [threading.Thread(target=write, args=(n * 100,)) for n in range(3)] + [
        threading.Thread(target=read)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 200


def test_file_store_reports_a_damaged_file(tmp_path):
    path = tmp_path / "token.json"
    path.write_text('{"version": 1, "access_token": "x"')
    with pytest.raises(TokenRecordError, match="not valid JSON"):
        FileStore(path).load()


def test_journal_round_trip_is_encrypted_and_private(tmp_path):
    directory = tmp_path / "journal"
    journal = RescueJournal(directory, SECRET)
    assert journal.get("lockit_default") is None and not journal.has("lockit_default")
    path = journal.put("lockit_default", record(5))
    assert journal.has("lockit_default") and path == journal.path_for("lockit_default")
    assert journal.get("lockit_default") == record(5)
    assert mode(directory) == 0o700 and mode(path) == 0o600 and mode(directory / "salt") == 0o600
    data = path.read_bytes()
    for secret in (record(5).access_token, record(5).refresh_token, SECRET):
        assert secret.encode() not in data
    # A second journal object (another process) derives the same key from the same salt.
    assert RescueJournal(directory, SECRET).get("lockit_default") == record(5)


def test_journal_tightens_an_existing_directory(tmp_path):
    directory = tmp_path / "journal"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    RescueJournal(directory, SECRET).put("k", record())
    assert mode(directory) == 0o700


def test_journal_with_the_wrong_key_is_quarantined_with_a_warning(tmp_path, caplog):
    path = RescueJournal(tmp_path, SECRET).put("lockit_default", record())
    journal = RescueJournal(tmp_path, "another-secret")
    assert journal.get("lockit_default") is None
    (moved,) = journal.quarantined()
    assert not path.exists() and moved.name.startswith(path.name + ".quarantined-")
    assert "written under another client secret" in caplog.text and str(moved) in caplog.text
    # Nothing is lost: with the old secret back, the entry moved back replays.
    moved.rename(path)
    assert RescueJournal(tmp_path, SECRET).get("lockit_default") == record()


def test_journal_entries_are_metadata_only_and_remove_works(tmp_path):
    journal = RescueJournal(tmp_path, SECRET, clock=lambda: 1234.5)
    journal.put("conn/a", record(3))
    journal.put("conn b", record(4))
    (tmp_path / "junk.journal").write_text("not json")
    entries = journal.entries()
    assert sorted((e.key, e.generation, e.written_at) for e in entries) == [
        ("conn b", 4, 1234.5),
        ("conn/a", 3, 1234.5),
    ]
    assert all(e.path.parent == tmp_path for e in entries)
    assert "access-" not in repr(entries) and "refresh-" not in repr(entries)
    # entries() needs no key: a status command can list them even with a changed secret.
    assert len(RescueJournal(tmp_path, "wrong").entries()) == 2
    journal.remove("conn/a")
    journal.remove("conn/a")
    assert [e.key for e in journal.entries()] == ["conn b"]


def test_journal_file_names_are_safe_and_distinct(tmp_path):
    journal = RescueJournal(tmp_path, SECRET)
    names = {journal.path_for(key).name for key in ("a/b", "a_b", "../x", "a b")}
    assert len(names) == 4
    assert all("/" not in name and not name.startswith("..") for name in names)
    assert repr(journal) == f"RescueJournal({str(tmp_path)!r})"
