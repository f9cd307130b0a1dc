"""The single-flight refresher: one refresh per connection at a time, persisted before it is used.

Siblings meet at two locks: a thread lock per key in this process and a file lock per key on this
host. Inside them the store is read again, so a sibling that refreshed first is reused and no
refresh token is spent twice. A new record is saved before anyone sees its access token; if the store
keeps refusing it, it goes to the encrypted rescue journal, because with rotation the old refresh
token may already be dead.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from lockit_provider.exceptions import (
    InvalidGrantError,
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
    LockitTokenPersistError,
    RefreshLockTimeout,
    TokenRecordError,
)
from lockit_provider.oauth.client import OAuthClient
from lockit_provider.oauth.files import make_private_dir, safe_filename
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.store import TokenStore
from lockit_provider.oauth.token import TokenRecord, choose_record

logger = logging.getLogger(__name__)

INVALID_GRANT_POLL = 0.5  # seconds between store reads while waiting for a sibling's record
PERSIST_BACKOFF = 0.1  # first pause between save attempts; doubles each time
TRANSIENT_BACKOFF = 30.0  # pause before retrying an early refresh that failed transiently
SHORT_LIFETIME_SHARE = 0.1  # at most this share of a token's lifetime is spent early

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(name: str) -> threading.Lock:
    """Return the process-wide lock for ``name``, shared by every Refresher on the same key."""
    with _thread_locks_guard:
        return _thread_locks.setdefault(name, threading.Lock())


def _forget_thread_locks() -> None:
    """Start a forked child with fresh locks: one held by another parent thread would never be released."""
    global _thread_locks_guard
    _thread_locks_guard = threading.Lock()
    _thread_locks.clear()


os.register_at_fork(after_in_child=_forget_thread_locks)


class Refresher:
    """Hand out a valid access token for one store key, refreshing it at most once at a time."""

    def __init__(
        self,
        client: OAuthClient,
        store: TokenStore,
        *,
        key: str,
        bootstrap: TokenRecord | None,
        lock_dir: Path | str,
        journal: RescueJournal | None,
        leeway: float = 300,
        jitter: float = 60,
        invalid_grant_wait: float = 10,
        persist_retries: int = 3,
        reauth_command: str,
        recover_command: str | None = None,
        lock_timeout: float = 120,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_new_token: Callable[[str], None] | None = None,
        host_lock: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._key = key
        self._bootstrap = bootstrap
        self._journal = journal
        # Chosen once per Refresher so siblings sharing a token do not all refresh at the same moment.
        self._margin = max(0.0, leeway - random.random() * jitter)
        self._invalid_grant_wait = invalid_grant_wait
        self._persist_attempts = 1 + max(0, persist_retries)
        self._reauth_command = reauth_command
        self._recover_command = recover_command
        self._lock_timeout = lock_timeout
        self._clock = clock
        self._sleep = sleep
        self._on_new_token = on_new_token
        self._host_lock = host_lock
        self._lock_path = Path(lock_dir) / f"{safe_filename(key)}.lock"
        self._thread_lock = _thread_lock(str(self._lock_path.absolute()))
        self._current: TokenRecord | None = None
        self._announced: set[str] = set()
        self._quiet_until = 0.0

    def __repr__(self) -> str:
        return f"Refresher(key={self._key!r}, store={self._store.name!r}, current={self._current!r})"

    def access_token(self) -> str:
        """Return a valid access token."""
        return self.get_record().access_token

    def get_record(self) -> TokenRecord:
        """Return the current record, refreshed first when it expires within the leeway."""
        record = self._current if self._current is not None else self._load_unlocked()
        now = self._clock()
        if record is not None and not self._is_due(record, now):
            return record
        if record is not None and now < self._quiet_until and not record.expires_within(0, now):
            return record
        try:
            with self._single_flight():
                return self._refresh_locked(rejected=None, force=False)
        except LockitTokenEndpointError as exc:
            # An early refresh that failed transiently leaves a token that still works: keep using it.
            now = self._clock()
            if record is None or record.expires_within(0, now):
                raise
            self._quiet_until = now + (exc.retry_after or TRANSIENT_BACKOFF)
            logger.warning(
                "Early token refresh for %s failed (%s); using the current token, valid for %.0f s more",
                self._key,
                exc,
                record.expires_at - now,
            )
            return record

    def refresh(self, *, rejected_access_token: str | None = None, force: bool = False) -> TokenRecord:
        """Return a record after a 401, refreshing unless a sibling already replaced the rejected token.

        Always takes the locks and reads the store (so it also replays a rescue journal entry);
        ``force`` refreshes even when the stored token looks valid.
        """
        with self._single_flight():
            return self._refresh_locked(rejected=rejected_access_token, force=force)

    def _is_due(self, record: TokenRecord, now: float) -> bool:
        """Return whether ``record`` should be refreshed now (never before the last tenth of its lifetime).

        The tenth keeps short-lived tokens to about one refresh per lifetime; real ones (days) use the
        leeway.
        """
        if not record.access_token:
            return True
        return record.expires_within(min(self._margin, record.lifetime * SHORT_LIFETIME_SHARE), now)

    def _load_unlocked(self) -> TokenRecord | None:
        """Read the store without locking, unless a journal entry waits to be replayed (needs the lock)."""
        if self._journal is not None and self._journal.has(self._key):
            return None
        record = self._read_current()
        if record is not None:
            self._adopt(record)
        return record

    @contextlib.contextmanager
    def _single_flight(self) -> Iterator[None]:
        """Hold this key's thread lock, its file lock, then the cross-host lock if one is configured."""
        if not self._thread_lock.acquire(timeout=self._lock_timeout):
            raise self._lock_timeout_error()
        try:
            make_private_dir(self._lock_path.parent)
            # A new FileLock each time: an instance created before a fork must not be used after it.
            file_lock = FileLock(self._lock_path, timeout=self._lock_timeout, mode=0o600)
            try:
                file_lock.acquire()
            except FileLockTimeout:
                raise self._lock_timeout_error() from None
            try:
                # Hosts share no file system: a deployment-wide lock (e.g. Redis) spans them.
                with self._host_lock() if self._host_lock is not None else contextlib.nullcontext():
                    yield
            finally:
                file_lock.release()
        finally:
            self._thread_lock.release()

    def _lock_timeout_error(self) -> RefreshLockTimeout:
        return RefreshLockTimeout(
            f"another refresh of {self._key} held the lock {self._lock_path} for more than "
            f"{self._lock_timeout:g} s; try again later"
        )

    def _refresh_locked(self, *, rejected: str | None, force: bool) -> TokenRecord:
        """Decide inside the locks: reuse what a sibling stored, or spend the refresh token once."""
        self._replay_journal()
        current = self._read_current()
        now = self._clock()
        if current is None:
            raise LockitReauthorizationRequired(
                f"there is no token for {self._key} in {self._store.name} nor in the connection: "
                f"authorize with `{self._reauth_command}`"
            )
        valid = (
            bool(current.access_token)
            and current.access_token != rejected
            and not current.expires_within(0, now)
        )
        # Without a refresh token there is nothing to spend: use the token for as long as it lasts.
        if not force and valid and (not self._is_due(current, now) or not current.refresh_token):
            self._adopt(current)
            return current
        if not current.refresh_token:
            raise LockitReauthorizationRequired(
                f"the token for {self._key} cannot be refreshed (no refresh token): "
                f"re-authorize with `{self._reauth_command}`"
            )
        try:
            record = self._client.refresh(current)
        except InvalidGrantError:
            return self._await_sibling_record(current)
        self._announce(record)
        self._persist(record)
        self._adopt(record)
        logger.info(
            "Refreshed the token for %s: generation %d, valid until %s",
            self._key,
            record.generation,
            time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(record.expires_at)),
        )
        return record

    def _await_sibling_record(self, spent: TokenRecord) -> TokenRecord:
        """After invalid_grant, wait briefly for a newer record (another host may be saving one)."""
        waited = 0.0
        while True:
            current = self._read_current()
            newer = current is not None and (
                current.generation > spent.generation or current.refresh_token != spent.refresh_token
            )
            if current is not None and newer and not current.expires_within(0, self._clock()):
                logger.info("Refresh token for %s was already spent; using the newer stored token", self._key)
                self._adopt(current)
                return current
            if waited >= self._invalid_grant_wait:
                break
            pause = min(INVALID_GRANT_POLL, self._invalid_grant_wait - waited)
            self._sleep(pause)
            waited += pause
        raise LockitReauthorizationRequired(
            f"the refresh token for {self._key} was rejected (invalid_grant) and no newer token appeared "
            f"in {self._store.name} within {self._invalid_grant_wait:g} s: the grant is no longer valid. "
            f"Re-authorize with `{self._reauth_command}`"
        )

    def _read_store(self) -> TokenRecord | None:
        try:
            return self._store.load()
        except TokenRecordError as exc:
            raise TokenRecordError(
                f"{self._store.name}: {exc}; re-authorize with `{self._reauth_command}` to replace it"
            ) from None

    def _read_current(self) -> TokenRecord | None:
        return choose_record(self._read_store(), self._bootstrap)

    def _save(self, record: TokenRecord) -> Exception | None:
        """Save with retries and backoff; return the last error, or None once saved."""
        error: Exception | None = None
        for attempt in range(self._persist_attempts):
            if attempt:
                self._sleep(PERSIST_BACKOFF * 2 ** (attempt - 1))
            try:
                self._store.save(record)
                return None
            except Exception as exc:  # any backend failure: the record must still not be lost
                error = exc
                logger.warning(
                    "Saving the token record for %s to %s failed (attempt %d of %d): %s",
                    self._key,
                    self._store.name,
                    attempt + 1,
                    self._persist_attempts,
                    type(exc).__name__,
                )
        return error

    def _persist(self, record: TokenRecord) -> None:
        """Save a new record before it is used; if the store refuses, journal it and raise."""
        error = self._save(record)
        if error is None:
            return
        failure = (
            f"a new token for {self._key} could not be saved to {self._store.name} ({type(error).__name__})"
        )
        if self._journal is None:
            raise LockitTokenPersistError(
                f"{failure} and no rescue journal is configured; the previous refresh token may be spent. "
                f"Re-authorize with `{self._reauth_command}`"
            ) from error
        try:
            path = self._journal.put(self._key, record)
        except OSError as journal_error:
            raise LockitTokenPersistError(
                f"{failure}, and writing the rescue journal in {self._journal.directory} failed too "
                f"({type(journal_error).__name__}). Re-authorize with `{self._reauth_command}`"
            ) from error
        raise LockitTokenPersistError(
            f"{failure}. It is kept, encrypted, in the rescue journal {path}. {self._recovery_hint()}",
            journal_path=str(path),
        ) from error

    def _recovery_hint(self) -> str:
        command = f" (or now: `{self._recover_command}`)" if self._recover_command else ""
        return (
            f"Once {self._store.name} accepts writes again, the next token request on this host "
            f"({socket.gethostname()}) replays it into the store{command}. Do not delete it: "
            "with a rotating server the old refresh token is already spent"
        )

    def _replay_journal(self) -> None:
        """Move a journal entry newer than the store into the store (called with the locks held)."""
        if self._journal is None or not self._journal.has(self._key):
            return
        entry = self._journal.get(self._key)
        if entry is None:
            return
        current = self._read_current()
        if self._supersedes(entry, current):
            self._announce(entry)
            error = self._save(entry)
            if error is not None:
                path = self._journal.path_for(self._key)
                raise LockitTokenPersistError(
                    f"the rescue journal entry {path} for {self._key} still cannot be saved to "
                    f"{self._store.name} ({type(error).__name__}). {self._recovery_hint()}",
                    journal_path=str(path),
                ) from error
            logger.info("Replayed the rescue journal entry for %s into %s", self._key, self._store.name)
        else:
            logger.info("Dropping the rescue journal entry for %s: the store holds a newer token", self._key)
        self._journal.remove(self._key)

    def _supersedes(self, entry: TokenRecord, current: TokenRecord | None) -> bool:
        """Return whether a journal entry is newer than what the store (or the Connection) offers."""
        if current is None:
            return True
        if self._bootstrap is not None and entry.bootstrap_fingerprint != current.bootstrap_fingerprint:
            return False  # descends from tokens that a later `authorize` replaced
        return (entry.generation, entry.obtained_at) > (current.generation, current.obtained_at)

    def _adopt(self, record: TokenRecord) -> None:
        self._announce(record)
        self._current = record

    def _announce(self, record: TokenRecord) -> None:
        """Pass each token to ``on_new_token`` (the secret masker) once, the moment we hold it."""
        if self._on_new_token is None:
            return
        for token in (record.access_token, record.refresh_token):
            if not token:
                continue
            digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
            if digest not in self._announced:
                self._on_new_token(token)
                self._announced.add(digest)
