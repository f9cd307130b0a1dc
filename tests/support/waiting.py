"""Wait for an event, not for a time: poll a condition, with a timeout only against a hang."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object],
    what: str,
    *,
    timeout: float = 300,
    interval: float = 0.05,
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """Return as soon as ``condition()`` is true; fail after ``timeout`` s (a hang, not a slow machine).

    ``on_timeout`` adds context to the failure (e.g. the tail of a log).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            context = on_timeout() if on_timeout is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{context}")
        time.sleep(interval)
