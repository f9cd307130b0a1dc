"""Where the live token record is kept: the interface and two plain implementations."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from lockit_provider.exceptions import TokenRecordError
from lockit_provider.oauth.files import read_private_file, write_private_file
from lockit_provider.oauth.token import TokenRecord


class TokenStore(Protocol):
    """Holds the one live record of a connection; read by every process, written after each refresh."""

    @property
    def name(self) -> str:
        """Say where the record lives, for messages (never the record itself)."""
        ...

    def load(self) -> TokenRecord | None:
        """Return the stored record, or None when there is none yet."""
        ...

    def save(self, record: TokenRecord) -> None:
        """Store ``record`` durably, replacing the previous one; raise if that is not possible."""
        ...


class MemoryStore:
    """A store inside one process: for tests and short-lived scripts."""

    def __init__(self, record: TokenRecord | None = None, *, name: str = "memory store") -> None:
        self.name = name
        self._record = record
        self._lock = threading.Lock()

    def load(self) -> TokenRecord | None:
        """Return the record."""
        with self._lock:
            return self._record

    def save(self, record: TokenRecord) -> None:
        """Replace the record."""
        with self._lock:
            self._record = record


class FileStore:
    """A JSON file readable by its owner only, replaced atomically: for one host without Airflow."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = f"token file {self.path}"

    def load(self) -> TokenRecord | None:
        """Return the record in the file, or None when the file does not exist."""
        try:
            text = read_private_file(self.path)  # never through a symbolic link planted at the path
        except FileNotFoundError:
            return None
        except ValueError:
            raise TokenRecordError(f"{self.name} is far larger than a token record") from None
        return TokenRecord.from_json(text)

    def save(self, record: TokenRecord) -> None:
        """Write the record (temp file + rename, mode 0600)."""
        write_private_file(self.path, record.to_json().encode("utf-8"))
