"""The single-flight refresher: one refresh per grant at a time, persisted before it is used.

Siblings meet at up to three locks: a thread lock per key in this process, a file lock per key on this
host, and a cross-host lock (Redis or PostgreSQL) where the deployment has one. Inside them the store
is read again, so a sibling that refreshed first is reused and no refresh token is spent twice.

A new record is journaled locally (encrypted, fsynced) the moment it arrives, then saved to the store
before anyone sees its access token; the journal entry is cleared once the store has it. A process
killed in between loses nothing: the next token request on the host replays the entry.

After ``invalid_grant`` no lock is held while waiting for a sibling's newer record; a grant that stays
dead is marked so in the store, so every process fails fast instead of sending refresh after refresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    LockitConfigError,
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
    LockitTokenPersistError,
    RefreshLockTimeout,
    TokenRecordError,
)
from lockit_provider.oauth.client import OAuthClient
from lockit_provider.oauth.files import prepare_lock_file, safe_filename
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.locks import CrossHostLock, holder_name
from lockit_provider.oauth.store import TokenStore
from lockit_provider.oauth.token import TokenRecord, choose_record

logger = logging.getLogger(__name__)

INVALID_GRANT_POLL = 0.5  # seconds between store reads while waiting for a sibling's record
PERSIST_BACKOFF = 0.1  # first pause between save attempts; doubles each time
TRANSIENT_BACKOFF = 30.0  # pause before retrying an early refresh that failed transiently
SHORT_LIFETIME_SHARE = 0.1  # a short token is refreshed in the last 10-15 % of its lifetime
MIN_MARGIN = 1.0  # seconds: a token is never sent this close to its expiry (a busy loop sends late)
HISTORY_LENGTH = 8

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
_warned_other_hosts: set[str] = set()


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


def _lifetime(record: TokenRecord, now: float) -> float:
    """Return the token's lifetime; for tokens of unknown age (the Connection's), the time they have left.

    The time left is a lower bound of the lifetime: such a token is refreshed no later than a token
    obtained now would be, and a fresh one from ``authorize`` is not refreshed on its first use.
    """
    if record.obtained_at > 0:
        return record.lifetime
    return max(0.0, record.expires_at - now)


def _floor(record: TokenRecord) -> float:
    """Return how close to expiry a token may still be sent: MIN_MARGIN, less for tokens under 4 s."""
    if record.obtained_at > 0:
        return min(MIN_MARGIN, record.lifetime / 4)
    return MIN_MARGIN


@dataclasses.dataclass(frozen=True)
class _Spent:
    """The server said invalid_grant to this record's refresh token."""

    record: TokenRecord


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
        rand: Callable[[], float] = random.random,
        on_new_token: Callable[[str], None] | None = None,
        cross_host_lock: CrossHostLock | None = None,
        conn_id: str | None = None,
    ) -> None:
        self._conn_id = conn_id
        self._client = client
        self._store = store
        self._key = key
        self._bootstrap = bootstrap
        self._journal = journal
        # Drawn once per Refresher (one per connection per process), so hosts and processes sharing a
        # token fall due at different moments, short-lived tokens included.
        spread = rand()
        self._margin = max(0.0, leeway - spread * jitter)
        self._short_share = SHORT_LIFETIME_SHARE * (1 + spread / 2)
        self._invalid_grant_wait = invalid_grant_wait
        self._persist_attempts = 1 + max(0, persist_retries)
        self._reauth_command = reauth_command
        self._recover_command = recover_command
        self._lock_timeout = lock_timeout
        self._clock = clock
        self._sleep = sleep
        self._on_new_token = on_new_token
        self._cross_host_lock = cross_host_lock
        self._lock_path = Path(lock_dir) / f"{safe_filename(key)}.lock"
        self._holder_path = self._lock_path.with_name(self._lock_path.name + ".holder")
        self._thread_lock = _thread_lock(str(self._lock_path.absolute()))
        # Processes that share the lock directory share the file lock: that is one locking domain.
        self._domain = hashlib.sha256(str(self._lock_path.parent.absolute()).encode()).hexdigest()[:6]
        self._current: TokenRecord | None = None
        self._announced: set[str] = set()
        self._quiet_until = 0.0
        self._lock_announced = False

    def __repr__(self) -> str:
        return f"Refresher(key={self._key!r}, store={self._store.name!r}, current={self._current!r})"

    @property
    def lock_description(self) -> str:
        """Say which lock keeps refreshes single-flight (no secret)."""
        if self._cross_host_lock is None:
            return f"host-only (file lock {self._lock_path})"
        return self._cross_host_lock.description

    def access_token(self) -> str:
        """Return a valid access token."""
        return self.get_record().access_token

    def cached_token(self) -> str | None:
        """Return the access token held in memory if it is not due for refresh; never does I/O."""
        record = self._current
        if record is None or record.dead_since is not None:
            return None
        now = self._clock()
        if self._is_due(record, now) and not (now < self._quiet_until and not self._too_late(record, now)):
            return None
        return record.access_token

    def get_record(self) -> TokenRecord:
        """Return the current record, refreshed first when it is due."""
        record = self._current if self._current is not None else self._load_unlocked()
        now = self._clock()
        if record is not None and not self._is_due(record, now):
            return record
        if record is not None and now < self._quiet_until and not self._too_late(record, now):
            return record
        if record is not None and record.dead_since is not None:
            return self._dead_grant(record, now)
        try:
            return self._refresh(rejected=None, force=False)
        except (LockitTokenEndpointError, RefreshLockTimeout) as exc:
            # The refresh could not happen now (token endpoint hiccup, lock service down or held by a
            # frozen holder) and no refresh token was spent: a token that still works is kept.
            now = self._clock()
            if record is None or self._too_late(record, now):
                raise
            retry_after = getattr(exc, "retry_after", None)
            self._quiet_until = now + (retry_after or TRANSIENT_BACKOFF)
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
        return self._refresh(rejected=rejected_access_token, force=force)

    def sync_bootstrap(self, write: Callable[[TokenRecord], None]) -> TokenRecord | None:
        """Copy the live record into the Connection with ``write``, inside the locks; return it.

        The store then remembers that the Connection holds these tokens, so they do not count as a new
        authorization. An exported Connection so carries tokens that are current, never a spent one.
        """
        with self._single_flight():
            self._replay_journal()
            current = self._read_current()
            if current is None:
                return None
            write(current)
            synced = current.as_bootstrap()
            error = self._save(synced)
            if error is not None:
                raise LockitTokenPersistError(
                    f"the Connection now holds the live tokens of {self._key}, but {self._store.name} "
                    f"refused the matching record ({type(error).__name__}); run the command again"
                ) from None
            self._bootstrap = synced
            self._adopt(synced)
            return synced

    def _is_due(self, record: TokenRecord, now: float) -> bool:
        """Return whether ``record`` should be refreshed now.

        Long-lived tokens use the leeway; short ones the last 10-15 % of their lifetime (so they are
        refreshed about once per lifetime), but never less than MIN_MARGIN before expiry.
        """
        if not record.access_token:
            return True
        margin = min(self._margin, _lifetime(record, now) * self._short_share)
        return record.expires_within(max(margin, _floor(record)), now)

    def _too_late(self, record: TokenRecord, now: float) -> bool:
        """Return whether the access token is expired or too close to expiry to be sent."""
        return record.expires_within(_floor(record), now)

    def _load_unlocked(self) -> TokenRecord | None:
        """Read the store without locking, unless a journal entry waits to be replayed (needs the lock)."""
        if self._journal is not None and self._journal.has(self._key):
            return None
        record = self._read_current()
        if record is not None:
            self._adopt(record)
        return record

    def _dead_grant(self, record: TokenRecord, now: float) -> TokenRecord:
        """Use a dead grant's access token while it lasts; then fail fast, unless it was re-authorized."""
        if not self._too_late(record, now):
            return record
        fresh = self._read_current()  # a re-authorization replaces the marked record
        if fresh is not None and fresh.dead_since is None:
            self._adopt(fresh)
            return self.get_record()
        raise self._reauthorization_required("was marked dead in the store")

    def _refresh(self, *, rejected: str | None, force: bool) -> TokenRecord:
        with self._single_flight():
            outcome = self._refresh_locked(rejected=rejected, force=force)
        if isinstance(outcome, _Spent):
            return self._await_sibling_record(outcome.record)  # with no lock held
        return outcome

    @contextlib.contextmanager
    def _single_flight(self) -> Iterator[None]:
        """Hold this key's thread lock, its file lock, then the cross-host lock if there is one."""
        if not self._thread_lock.acquire(timeout=self._lock_timeout):
            raise self._lock_timeout_error()
        try:
            self._prepare_lock_file()
            # A new FileLock each time: an instance created before a fork must not be used after it.
            file_lock = FileLock(self._lock_path, timeout=self._lock_timeout, mode=0o600)
            try:
                file_lock.acquire()
            except FileLockTimeout:
                raise self._lock_timeout_error() from None
            try:
                self._note_holder()
                if self._cross_host_lock is None:
                    yield
                else:
                    with self._cross_host_lock.hold(self._lock_timeout):
                        self._announce_lock()
                        yield
            finally:
                file_lock.release()
        finally:
            self._thread_lock.release()

    def _prepare_lock_file(self) -> None:
        """Create the lock file safely (no symlink, private directory); name state_dir when it cannot."""
        try:
            prepare_lock_file(self._lock_path)
        except OSError as err:
            raise LockitConfigError(
                f"the refresh lock {self._lock_path} cannot be created "
                f"({err.strerror or type(err).__name__}): "
                "set the connection extra 'state_dir' to an absolute directory the Airflow user can write "
                "on every host",
                field="state_dir",
            ) from None

    def _note_holder(self) -> None:
        """Write who holds the file lock beside it, so a waiter that times out can name the holder."""
        with contextlib.suppress(OSError):
            fd = os.open(self._holder_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(holder_name())

    def _lock_timeout_error(self) -> RefreshLockTimeout:
        try:
            holder: str | None = self._holder_path.read_text()[:200]
        except OSError:
            holder = None
        who = f" (held by {holder})" if holder else ""
        return RefreshLockTimeout(
            f"another refresh of {self._key} held the lock {self._lock_path}{who} for more than "
            f"{self._lock_timeout:g} s; try again later. A process that is frozen there must be stopped",
            lock=str(self._lock_path),
            holder=holder,
        )

    def _announce_lock(self) -> None:
        if not self._lock_announced:
            self._lock_announced = True
            logger.info(
                "Token refreshes of %s are single-flight across hosts: lock on %s",
                self._key,
                self.lock_description,
            )

    def _refresh_locked(self, *, rejected: str | None, force: bool) -> TokenRecord | _Spent:
        """Decide inside the locks: reuse what a sibling stored, or spend the refresh token once."""
        self._replay_journal()
        current = self._read_current()
        now = self._clock()
        if current is None:
            raise LockitReauthorizationRequired(
                f"there is no token for {self._key} in {self._store.name} nor in the connection: "
                f"authorize with `{self._reauth_command}`",
                conn_id=self._conn_id,
            )
        self._warn_if_other_host(current)
        valid = (
            bool(current.access_token)
            and current.access_token != rejected
            and not self._too_late(current, now)
        )
        # Without a refresh token there is nothing to spend: use the token for as long as it lasts.
        if not force and valid and (not self._is_due(current, now) or not current.refresh_token):
            self._adopt(current)
            return current
        if current.dead_since is not None:
            raise self._reauthorization_required("was marked dead in the store")
        if not current.refresh_token:
            raise LockitReauthorizationRequired(
                f"the token for {self._key} cannot be refreshed (no refresh token): "
                f"re-authorize with `{self._reauth_command}`",
                conn_id=self._conn_id,
            )
        if self._journal is not None:
            self._journal.prepare()  # the slow key derivation happens before the request, not after
        try:
            record = self._client.refresh(current)
        except InvalidGrantError:
            return _Spent(current)
        record = dataclasses.replace(record, history=self._history(current))
        self._persist(
            record
        )  # first: in a task, masking talks to the supervisor, and a kill must lose nothing
        self._adopt(record)
        logger.info(
            "Refreshed the token for %s: generation %d, valid until %s",
            self._key,
            record.generation,
            time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(record.expires_at)),
        )
        return record

    def _history(self, previous: TokenRecord) -> tuple[str, ...]:
        entry = f"{socket.gethostname()}/{os.getpid()}@{int(self._clock())}#{self._domain}"
        return (entry, *previous.history)[:HISTORY_LENGTH]

    def _warn_if_other_host(self, current: TokenRecord) -> None:
        """Warn once per process when another locking domain refreshes this grant with no cross-host lock."""
        if self._cross_host_lock is not None or not current.history or self._key in _warned_other_hosts:
            return
        latest = current.history[0]
        if latest.rpartition("#")[2] == self._domain:
            return
        _warned_other_hosts.add(self._key)
        logger.warning(
            "The token of %s was last refreshed by %s, another host (or a process with another state_dir), "
            "while %s/%d refreshes it too, and no cross-host lock is in force. A server that revokes a grant "
            "when an old refresh token is reused will then lock every host out. Fix: run CeleryExecutor "
            "with a Redis broker (locked automatically), or set the connection extra 'lock_conn_id' to a "
            "'redis' or 'postgres' connection every host can reach",
            self._key,
            latest.partition("@")[0],
            socket.gethostname(),
            os.getpid(),
        )

    def _await_sibling_record(self, spent: TokenRecord) -> TokenRecord:
        """After invalid_grant, wait (holding no lock) for a newer record another host may be saving."""
        waited = 0.0
        while True:
            current = self._read_current()
            newer = current is not None and (
                current.generation > spent.generation or current.refresh_token != spent.refresh_token
            )
            if current is not None and newer and not self._too_late(current, self._clock()):
                logger.info("Refresh token for %s was already spent; using the newer stored token", self._key)
                self._adopt(current)
                return current
            if waited >= self._invalid_grant_wait:
                break
            pause = min(INVALID_GRANT_POLL, self._invalid_grant_wait - waited)
            self._sleep(pause)
            waited += pause
        self._mark_dead(spent)
        raise self._reauthorization_required(
            f"was rejected (invalid_grant) and no newer token appeared in {self._store.name} within "
            f"{self._invalid_grant_wait:g} s"
        )

    def _mark_dead(self, spent: TokenRecord) -> None:
        """Record in the store that ``spent``'s grant is dead, unless a sibling stored a newer record."""
        try:
            with self._single_flight():
                current = self._read_current()
                if current is None or current.refresh_token != spent.refresh_token or current.dead_since:
                    return
                marked = dataclasses.replace(current, dead_since=self._clock())
                if self._save(marked) is None:
                    self._adopt(marked)
        except (RefreshLockTimeout, TokenRecordError) as err:
            logger.warning("Could not mark the grant of %s as dead: %s", self._key, type(err).__name__)

    def _reauthorization_required(self, why: str) -> LockitReauthorizationRequired:
        return LockitReauthorizationRequired(
            f"the refresh token for {self._key} {why}: the grant is no longer valid. "
            f"Re-authorize with `{self._reauth_command}`",
            conn_id=self._conn_id,
        )

    def _read_store(self) -> TokenRecord | None:
        try:
            record = self._store.load()
        except TokenRecordError as exc:
            raise TokenRecordError(
                f"{self._store.name}: {exc}; re-authorize with `{self._reauth_command}` to replace it"
            ) from None
        owner = getattr(record, "client_id", None)
        if record is not None and owner and owner != self._client.config.client_id:
            raise LockitConfigError(
                f"{self._store.name} holds the tokens of client {owner!r}, not of this connection's client "
                f"{self._client.config.client_id!r}: give this connection a 'token_variable' of its own, "
                f"or re-authorize it with `{self._reauth_command}`",
                field="token_variable",
            )
        return record

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
        """Journal a new record at once, save it to the store, then clear the journal entry.

        Errors never chain the store's exception: a database error's text can quote the new tokens.
        """
        journal_path, journal_error = None, None
        if self._journal is not None:
            try:
                journal_path = self._journal.put(self._key, record)
            except OSError as err:
                journal_error = err
                logger.warning(
                    "Could not journal the new token for %s in %s: %s",
                    self._key,
                    self._journal.directory,
                    type(err).__name__,
                )
        error = self._save(record)
        if error is None:
            if journal_path is not None and self._journal is not None:
                self._journal.remove(self._key)
            return
        failure = (
            f"a new token for {self._key} could not be saved to {self._store.name} ({type(error).__name__})"
        )
        if self._journal is None:
            raise LockitTokenPersistError(
                f"{failure} and no rescue journal is configured; the previous refresh token may be spent. "
                f"Re-authorize with `{self._reauth_command}`"
            ) from None
        if journal_path is None:
            raise LockitTokenPersistError(
                f"{failure}, and writing the rescue journal in {self._journal.directory} failed too "
                f"({type(journal_error).__name__}). Re-authorize with `{self._reauth_command}`"
            ) from None
        raise LockitTokenPersistError(
            f"{failure}. It is kept, encrypted, in the rescue journal {journal_path}. "
            f"{self._recovery_hint()}",
            journal_path=str(journal_path),
        ) from None

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
                ) from None
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
