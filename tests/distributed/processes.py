"""Processes the distributed tier starts itself: each in a session of its own, stopped by its group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class Component:
    """One long-running process (an Airflow component or a redis-server) with its own log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        """Start the process as the leader of a new session; its output goes to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def running(self) -> bool:
        """Tell whether the process was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM to the process group this component leads (if it still runs)."""
        if self.running and self.proc is not None:
            _signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self, grace: float = 20) -> None:
        """Stop the process group this component leads: SIGTERM, then SIGKILL after ``grace`` seconds.

        Only the group of the process started here is signalled, never anything found by name.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        # Children (Celery's pool, a log server) may outlive their leader: end the rest of the group too.
        _signal_group(proc.pid, signal.SIGKILL)

    def log_text(self) -> str:
        """Return everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        """Return the last lines of the log, headed by the component's name."""
        text = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- {self.name} ({self.log_path}) ---\n{text}"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def as_host(hostname: str, argv: Sequence[str]) -> list[str]:
    """Return ``argv`` run under a host name of its own (a UTS namespace), when this machine allows it.

    Two workers on one machine then report different hosts, as two machines would (the token record
    says which host refreshed it). Without ``unshare`` or the right to use it, ``argv`` runs as it is.
    """
    if not uts_namespaces_work():
        return list(argv)
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]


_UTS_OK: bool | None = None


def uts_namespaces_work() -> bool:
    """Tell whether ``unshare --uts`` can give a process its own host name here (checked once)."""
    global _UTS_OK
    if _UTS_OK is None:
        if shutil.which("unshare") is None:
            _UTS_OK = False
        else:
            probe = subprocess.run(
                ["unshare", "--uts", "sh", "-c", "hostname lockit-probe && hostname"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            _UTS_OK = probe.returncode == 0 and probe.stdout.strip() == "lockit-probe"
    return _UTS_OK
