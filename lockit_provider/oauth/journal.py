"""The rescue journal: an encrypted local copy of a new token until the store has it.

A rotated refresh token must never live only in memory. A new record is written here the moment it
arrives, encrypted with Fernet under a key derived from the client secret (scrypt, salt kept beside
the entries), and cleared once the store has it; if the store refuses it, the next refresh on this
host replays it into the store.

A damaged journal must never block token requests while the store holds a valid token: an entry
that cannot be read (truncated, unreadable, a directory or a link where a file should be, written
under another client secret) is moved aside as ``*.quarantined-<time>`` with a warning that names it
and what to do, once per process, and the store is used as if the entry were not there.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lockit_provider.exceptions import JournalError, LockitConfigError, TokenRecordError
from lockit_provider.oauth.files import (
    create_private_file_once,
    effective_uid,
    make_private_dir,
    quarantine,
    read_private_file,
    safe_filename,
    user_name,
    write_private_file,
)
from lockit_provider.oauth.token import TokenRecord

logger = logging.getLogger(__name__)

ENTRY_VERSION = 1
ENTRY_SUFFIX = ".journal"
QUARANTINE_MARK = ".quarantined-"
SALT_FILE = "salt"
SALT_BYTES = 16
MAX_ENTRY_BYTES = 256 * 1024  # an entry is about 1 KiB; anything far larger is not one of ours
# scrypt cost: about 50 ms once per journal object, 16 MiB of memory (RFC 7914 interactive setting).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

_warned: set[str] = set()
_warned_guard = threading.Lock()


def _warn_once(topic: str, message: str, *args: object) -> None:
    """Log a warning about ``topic`` once per process: a broken journal must not flood task logs."""
    with _warned_guard:
        if topic in _warned:
            return
        _warned.add(topic)
    logger.warning(message, *args)


@dataclass(frozen=True)
class JournalEntry:
    """What ``entries()`` tells about a journal entry; no secret."""

    key: str
    generation: int
    path: Path
    written_at: float


class RescueJournal:
    """Encrypted token records on local disk, one file per store key (directory 0700, files 0600)."""

    def __init__(
        self, directory: Path | str, key_material: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self._key_material = key_material
        self._clock = clock
        self._fernet: Fernet | None = None

    def __repr__(self) -> str:
        return f"RescueJournal({str(self.directory)!r})"

    def path_for(self, key: str) -> Path:
        """Return the file that holds the entry for ``key``."""
        return self.directory / f"{safe_filename(key)}{ENTRY_SUFFIX}"

    def has(self, key: str) -> bool:
        """Return whether something is at the entry path for ``key`` (cheap: no decryption)."""
        return os.path.lexists(self.path_for(key))

    def put(self, key: str, record: TokenRecord) -> Path:
        """Write ``record`` as the entry for ``key`` (fsynced) and return the entry's path.

        Raises only ``OSError``: the caller holds a token that must still reach the store.
        """
        try:
            token = self._cipher().encrypt(record.to_json().encode("utf-8"))
            entry = {
                "version": ENTRY_VERSION,
                "key": key,
                "generation": record.generation,
                "written_at": self._clock(),
                "record": token.decode("ascii"),
            }
            path = self.path_for(key)
            if not _is_plain_file_or_absent(path):
                self._set_aside(path, "is not a plain file")
            # Visible to the next process before the fsyncs: a kill in the next milliseconds must not
            # lose the only copy of a rotated refresh token.
            write_private_file(path, json.dumps(entry).encode("utf-8"), visible_first=True)
        except (LockitConfigError, JournalError) as error:
            raise PermissionError(str(error)) from None
        return path

    def get(self, key: str) -> TokenRecord | None:
        """Return the record kept for ``key``, or None when there is none or it cannot be read.

        An entry that cannot be read is quarantined with a warning (see the module docstring); the
        caller goes on with the store.
        """
        path = self.path_for(key)
        try:
            entry = _read_entry(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            self._set_aside(path, _unreadable(path, error))
            return None
        except JournalError:
            self._set_aside(path, "is damaged (truncated or not a journal entry)")
            return None
        try:
            cipher = self._cipher()
        except (OSError, LockitConfigError, JournalError) as error:
            _warn_once(
                f"key:{self.directory}",
                "The rescue journal in %s cannot be used (%s); its entry %s stays as it is and the token "
                "store is used meanwhile",
                self.directory,
                error,
                path,
            )
            return None
        try:
            return TokenRecord.from_json(cipher.decrypt(str(entry["record"])))
        except (InvalidToken, TokenRecordError):
            self._set_aside(
                path,
                "cannot be decrypted: it was written under another client secret, or it is damaged. If the "
                "client secret was changed, put the old one back in the connection and move the file back "
                "to replay it; otherwise delete it",
            )
            return None

    def remove(self, key: str) -> None:
        """Delete the entry for ``key`` if there is one (a non-file there is quarantined instead)."""
        path = self.path_for(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            self._set_aside(path, _unreadable(path, error))

    def prepare(self) -> None:
        """Derive the key now (scrypt is slow on purpose): call it before a token request, not after.

        Never raises: a journal that cannot be used must not stop a token request. It is warned about
        here (once), and a later ``put`` fails with ``OSError`` that the caller reports.
        """
        try:
            # The first encryption also loads the cipher backend (about a millisecond): not after the
            # answer, when every millisecond before the entry is written is a window for a lost token.
            self._cipher().encrypt(b"warm-up")
        except (OSError, LockitConfigError, JournalError) as error:
            _warn_once(
                f"key:{self.directory}",
                "The rescue journal in %s cannot be used (%s): a new token cannot be kept there if the "
                "store refuses it",
                self.directory,
                error,
            )

    def entries(self) -> list[JournalEntry]:
        """List the entries (metadata only, readable without the key); damaged files are skipped."""
        found = []
        for path in sorted(self.directory.glob(f"*{ENTRY_SUFFIX}")):
            try:
                entry = _read_entry(path)
                found.append(
                    JournalEntry(
                        key=str(entry["key"]),
                        generation=int(entry["generation"]),
                        path=path,
                        written_at=float(entry["written_at"]),
                    )
                )
            except (OSError, JournalError, KeyError, TypeError, ValueError):
                _warn_once(f"skip:{path}", "Skipping unreadable rescue journal file %s", path)
        return found

    def quarantined(self) -> list[Path]:
        """List what was moved aside, for ``airflow lockit status`` to show."""
        return sorted(self.directory.glob(f"*{QUARANTINE_MARK}*"))

    def _set_aside(self, path: Path, problem: str) -> None:
        """Quarantine what is at ``path`` and warn once; if it cannot be moved, warn and leave it."""
        moved = quarantine(path, self._clock())
        if moved is not None:
            _warn_once(
                f"moved:{moved}",
                "The rescue journal entry %s %s. It was moved aside to %s and the token store is used "
                "instead; re-authorize only if token requests then fail and ask for it",
                path,
                problem,
                moved,
            )
        else:
            _warn_once(
                f"stuck:{path}",
                "The rescue journal entry %s %s, and it cannot be moved aside: the token store is used "
                "instead. Move or delete it by hand",
                path,
                problem,
            )

    def _cipher(self) -> Fernet:
        """Return the Fernet for this journal, deriving its key on first use (scrypt is slow on purpose)."""
        if self._fernet is None:
            make_private_dir(self.directory)
            salt_path = self.directory / SALT_FILE
            try:
                salt = create_private_file_once(salt_path, os.urandom(SALT_BYTES))
            except (OSError, ValueError):
                salt = b""
            if len(salt) != SALT_BYTES:
                # Entries sealed under a damaged salt cannot be read anyway; they get quarantined as met.
                self._set_aside(salt_path, "is not a usable salt file")
                salt = create_private_file_once(salt_path, os.urandom(SALT_BYTES))
            key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
                self._key_material.encode("utf-8")
            )
            self._fernet = Fernet(base64.urlsafe_b64encode(key))
        return self._fernet


def _is_plain_file_or_absent(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True


def _unreadable(path: Path, error: OSError) -> str:
    """Describe why ``path`` cannot be read, naming its owner when it is another user's."""
    try:
        info = os.lstat(path)
    except OSError:
        return f"cannot be read ({error.strerror or type(error).__name__})"
    if os.path.islink(path):
        return "is a symbolic link, which the journal never follows"
    if os.path.isdir(path):
        return "is a directory where an entry file should be"
    if not stat.S_ISREG(info.st_mode):
        return "is not a plain file (a device, socket or pipe where an entry file should be)"
    if info.st_uid != effective_uid():
        return (
            f"belongs to {user_name(info.st_uid)} and cannot be read by {user_name(effective_uid())} (a "
            "command run as another user wrote it). To replay it, hand it over with chown and move it back"
        )
    return f"cannot be read ({error.strerror or type(error).__name__})"


def _read_entry(path: Path) -> dict[str, Any]:
    """Return an entry file's JSON object; OSError (FileNotFoundError included) passes through."""
    try:
        entry = json.loads(read_private_file(path, MAX_ENTRY_BYTES))
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION or "record" not in entry:
        raise JournalError(f"the rescue journal file {path} is damaged", journal_path=str(path))
    return entry
