"""Many callers in many processes ask for one expired token at once: the workers and the race.

Workers signal when each caller is at the start gate, and the gate opens only when all of them are,
however long the processes took to start (importing Airflow takes seconds each on a busy machine).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.gate import Gate

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Attempt:
    """One caller's token request: when it asked and got an answer (monotonic seconds), and what."""

    asked: float
    got: float | None = None
    token: str | None = None  # the SHA-256 of the token, never the token
    error: str | None = None


class ContentionWorkers:
    """Long-lived worker processes with one environment: the task runners of one host.

    They start once and serve many rounds; each round names its own connection id, so nothing a
    worker keeps per connection (its refresher, its record) carries over into the next round.
    """

    def __init__(self, processes: int, env: Mapping[str, str] | None = None) -> None:
        self._messages: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
        self._procs: list[subprocess.Popen[str]] = []
        self._stderr: list[IO[bytes]] = []
        worker_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
        for index in range(processes):
            read_fd, write_fd = os.pipe()
            stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the workers' lifetime
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.token_worker", str(write_fd)],
                env=worker_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_fd,),
                text=True,
            )
            os.close(write_fd)
            self._procs.append(proc)
            self._stderr.append(stderr)
            threading.Thread(target=self._read, args=(index, read_fd), daemon=True).start()

    @property
    def alive(self) -> bool:
        """Return whether every worker is still running."""
        return all(proc.poll() is None for proc in self._procs)

    def begin(self, conn_id: str, connection: str, threads: int, gate: Gate) -> None:
        """Start a round: every worker builds ``threads`` hooks on the connection and goes to the gate."""
        command = {"conn_id": conn_id, "connection": connection, "threads": threads, "gate": gate.path}
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()

    def await_ready(self, threads: int, deadline: float) -> None:
        """Return once every caller of the round is at the gate."""
        for _ in range(len(self._procs) * threads):
            self._next(deadline, "ready")

    def await_results(self, deadline: float) -> list[Attempt]:
        """Return every caller's attempt in the round."""
        attempts: list[Attempt] = []
        for _ in self._procs:
            attempts += [Attempt(**result) for result in self._next(deadline, "results")["results"]]
        return attempts

    def close(self) -> None:
        """End the workers: they hold nothing worth a graceful exit (which Airflow makes slow)."""
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        for stderr in self._stderr:
            stderr.close()

    def __enter__(self) -> ContentionWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, index: int, fd: int) -> None:
        with os.fdopen(fd) as replies:
            for line in replies:
                self._messages.put((index, json.loads(line)))
        self._messages.put((index, None))

    def _next(self, deadline: float, kind: str) -> dict[str, Any]:
        try:
            index, message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the workers sent no {kind!r} in time\n{self._stderr_tail(0)}") from None
        if message is None:
            code = self._procs[index].wait()
            raise AssertionError(f"worker {index} exited with {code}\n{self._stderr_tail(index)}")
        assert kind in message, message
        return message

    def _stderr_tail(self, index: int) -> str:
        stderr = self._stderr[index]
        stderr.seek(0)
        return stderr.read().decode(errors="replace")[-3000:]


def race(
    rounds: Sequence[tuple[ContentionWorkers, str, str]], threads: int, timeout: float = 600
) -> list[Attempt]:
    """Run one round on each (workers, conn_id, connection); open the gate when every caller is at it.

    ``timeout`` only keeps a dead worker from hanging the run. Workers of a failed round are closed.
    """
    deadline = time.monotonic() + timeout
    try:
        with Gate() as gate:
            for workers, conn_id, connection in rounds:
                workers.begin(conn_id, connection, threads, gate)
            for workers, _, _ in rounds:
                workers.await_ready(threads, deadline)
            gate.release()
            return [attempt for workers, _, _ in rounds for attempt in workers.await_results(deadline)]
    except BaseException:
        for workers, _, _ in rounds:
            workers.close()
        raise


def assert_released_together(attempts: Sequence[Attempt], refresh_seconds: float) -> None:
    """Fail unless every caller asked within half of the one refresh (slowed to ``refresh_seconds``).

    Released together, the callers' first requests lie within a fraction of a second even on a busy
    machine, and all of them contend for the refresh in flight. Released as their processes come up,
    they spread over seconds, and the late ones meet a token already refreshed instead.
    """
    asked = [attempt.asked for attempt in attempts]
    first_answer = min(attempt.got for attempt in attempts if attempt.got is not None)
    in_flight = first_answer - min(asked)
    spread = max(asked) - min(asked)
    assert in_flight >= refresh_seconds, (
        f"the first answer came {in_flight:.2f} s after the first request, before the slowed refresh "
        f"({refresh_seconds:g} s) could finish: the check would prove nothing"
    )
    assert spread < refresh_seconds / 2, (
        f"callers were not released together: their first requests spread over {spread:.2f} s, "
        f"not within half of the {refresh_seconds:g} s refresh"
    )
