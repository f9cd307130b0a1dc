"""A contention worker process: each round, THREADS threads with their own LockitHook wait at one gate,
then ask for a token; the worker reports when each asked and got it, and the SHA-256 of what it got
(never the token itself).

Usage: ``python -m tests.support.token_worker REPLY_FD``. The parent writes one JSON command a line to
stdin (``conn_id``, ``connection``, ``threads``, ``gate``); the worker answers on REPLY_FD with one
``{"ready": 1}`` per thread as it reaches the gate, then ``{"results": [...]}``. EOF on stdin ends it.
Airflow logs to stdout, so the answers have a descriptor of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from typing import Any

from lockit_provider.hooks.lockit import LockitHook
from tests.support.gate import wait_at_gate


class Replies:
    """Write one JSON line at a time to the parent, from any thread."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` as one line."""
        line = (json.dumps(message) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)


def run_round(command: dict[str, Any], replies: Replies) -> None:
    """Build the hooks, read the connection, then race for a token once the gate opens."""
    conn_id = command["conn_id"]
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = command["connection"]
    hooks = [LockitHook(lockit_conn_id=conn_id) for _ in range(command["threads"])]
    for hook in hooks:
        hook.settings  # noqa: B018 - read the connection before the race starts
    results: list[dict[str, Any]] = [{} for _ in hooks]

    def call(index: int) -> None:
        replies.send({"ready": 1})
        wait_at_gate(command["gate"])
        asked = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the host
        try:
            token = hooks[index].get_access_token()
            digest = hashlib.sha256(token.encode()).hexdigest()
            results[index] = {"token": digest, "asked": asked, "got": time.monotonic()}
        except Exception as err:
            results[index] = {"error": f"{type(err).__name__}: {err}", "asked": asked}

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(hooks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replies.send({"results": results})


def main() -> None:
    """Serve rounds until stdin closes."""
    replies = Replies(int(sys.argv[1]))
    for line in sys.stdin:
        run_round(json.loads(line), replies)


if __name__ == "__main__":
    main()
