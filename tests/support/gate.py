"""A start gate across processes: waiters block on a file lock the parent holds, one release frees all.

Unlike a start time on the wall clock, the gate opens only when every waiter has said it is ready, so
callers in processes that took long to start still start together.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


class Gate:
    """Hold a file locked exclusively until :meth:`release`; waiters take it shared and so block."""

    def __init__(self, directory: str | Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="lockit-gate-", dir=directory)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.path = name
        self._fd: int | None = fd

    def release(self) -> None:
        """Open the gate: every waiter blocked in :func:`wait_at_gate` returns at once."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        os.unlink(self.path)


def wait_at_gate(path: str) -> None:
    """Block until the gate at ``path`` is released (each caller uses its own open file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)
