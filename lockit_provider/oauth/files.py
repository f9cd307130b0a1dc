"""Owner-only files written atomically: the token file, the rescue journal and the lock names."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_filename(key: str) -> str:
    """Return a file name for ``key``: its safe characters plus a hash, so distinct keys never collide."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{_UNSAFE.sub('_', key).lstrip('.')[:80]}-{digest}"  # no hidden files, no '..'


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) as owner-only when it does not exist yet."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; the file is readable by its owner only.

    A reader sees the old or the new content, never a torn write; the fsyncs make a rename that
    survived a crash also hold its data (the rescue journal exists for exactly that case).
    """
    tmp = _write_temp_beside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def create_private_file_once(path: Path, data: bytes) -> bytes:
    """Create ``path`` with ``data`` unless it exists; return the content that won (race-free)."""
    tmp = _write_temp_beside(path, data)
    try:
        # link() fails when the name exists, so two processes creating it at once agree on one content.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def _write_temp_beside(path: Path, data: bytes) -> str:
    """Write ``data`` to a new owner-only (0600) temporary file next to ``path``; return its name."""
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (a rename) to disk where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
