"""The rescue journal: an encrypted local copy of a token the store refused to take.

A rotated refresh token must never live only in memory. When every save to the store fails, the
record is written here, encrypted with Fernet under a key derived from the client secret (scrypt,
salt kept beside the entries), and replayed into the store by the next refresh on this host.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lockit_provider.exceptions import JournalError, TokenRecordError
from lockit_provider.oauth.files import (
    create_private_file_once,
    make_private_dir,
    safe_filename,
    write_private_file,
)
from lockit_provider.oauth.token import TokenRecord

logger = logging.getLogger(__name__)

ENTRY_VERSION = 1
ENTRY_SUFFIX = ".journal"
SALT_FILE = "salt"
SALT_BYTES = 16
# scrypt cost: about 50 ms once per journal object, 16 MiB of memory (RFC 7914 interactive setting).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


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
        """Return whether an entry for ``key`` exists (cheap: no decryption)."""
        return self.path_for(key).exists()

    def put(self, key: str, record: TokenRecord) -> Path:
        """Write ``record`` as the entry for ``key`` and return the entry's path."""
        token = self._cipher().encrypt(record.to_json().encode("utf-8"))
        entry = {
            "version": ENTRY_VERSION,
            "key": key,
            "generation": record.generation,
            "written_at": self._clock(),
            "record": token.decode("ascii"),
        }
        path = self.path_for(key)
        write_private_file(path, json.dumps(entry).encode("utf-8"))
        return path

    def get(self, key: str) -> TokenRecord | None:
        """Return the record kept for ``key``, or None; raise JournalError if it cannot be decrypted."""
        path = self.path_for(key)
        try:
            entry = _read_entry(path)
        except FileNotFoundError:
            return None
        try:
            plain = self._cipher().decrypt(str(entry["record"]))
            return TokenRecord.from_json(plain)
        except (InvalidToken, TokenRecordError):
            raise JournalError(
                f"cannot decrypt the rescue journal entry {path}: it was written under a different client "
                "secret, or the file is damaged. Put back the client secret it was written with to replay "
                "it; otherwise delete the file and re-authorize",
                journal_path=str(path),
            ) from None

    def remove(self, key: str) -> None:
        """Delete the entry for ``key`` if there is one."""
        self.path_for(key).unlink(missing_ok=True)

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
                logger.warning("Skipping unreadable rescue journal file %s", path)
        return found

    def prepare(self) -> None:
        """Derive the key now (scrypt is slow on purpose): call it before a token request, not after."""
        self._cipher()

    def _cipher(self) -> Fernet:
        """Return the Fernet for this journal, deriving its key on first use (scrypt is slow on purpose)."""
        if self._fernet is None:
            make_private_dir(self.directory)
            os.chmod(self.directory, 0o700)  # the journal directory is ours: tighten it if it pre-existed
            salt = create_private_file_once(self.directory / SALT_FILE, os.urandom(SALT_BYTES))
            key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
                self._key_material.encode("utf-8")
            )
            self._fernet = Fernet(base64.urlsafe_b64encode(key))
        return self._fernet


def _read_entry(path: Path) -> dict[str, Any]:
    """Return an entry file's JSON object; FileNotFoundError passes through."""
    try:
        entry = json.loads(path.read_bytes())
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION:
        raise JournalError(f"the rescue journal file {path} is damaged", journal_path=str(path))
    return entry
