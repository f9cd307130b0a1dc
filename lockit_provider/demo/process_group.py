"""Processes started in one process group of their own, stopped together and only they.

Every process started here, and every process they start (Airflow's task processes), shares one
process group, so stopping signals that group and nothing else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ProcessGroup:
    """Start named processes in one new process group; stop the whole group."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pgid: int | None = None

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        """Start ``argv`` with its output in ``log``; the first process leads the new group."""
        # A new group in this session (not a new session), so later processes may join it.
        group = 0 if self.pgid is None else self.pgid
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=group,
            )
        self.pgid = self.pgid or proc.pid
        self.procs[name] = proc

    def exited(self) -> str | None:
        """Return the name of a started process that has exited, if any."""
        return next((name for name, proc in self.procs.items() if proc.poll() is not None), None)

    def stop(self, grace: float = 5) -> bool:
        """Stop the group: SIGTERM, then SIGKILL whatever is left after ``grace`` seconds.

        Return True once no live process of the group is left (zombies waiting for init to reap them
        do not count).
        """
        if self.pgid is None:
            return True
        pgid = self.pgid
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
        _signal_group(pgid, signal.SIGKILL)  # children too; a no-op when all are gone
        for proc in self.procs.values():
            proc.wait()
        deadline = time.monotonic() + 10  # SIGKILL cannot be ignored: only the kernel's reaping is left
        while live_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.pgid = None
        return not live_members(pgid)


def live_members(pgid: int) -> list[int]:
    """Return the processes of group ``pgid`` that are not zombies (read from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may contain spaces, so split after its ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(pgid, signum)
