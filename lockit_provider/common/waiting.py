"""Quiet polling: say "still waiting" at INFO only when what is awaited changed, else at DEBUG.

A sensor or trigger that polls every few seconds for hours would otherwise fill its log with the
same line; a change (the first poll, a clip that got its take, a new status) is worth a line.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any


class WaitingLog:
    """Log waiting messages at INFO when they differ from the previous one, at DEBUG otherwise."""

    def __init__(self) -> None:
        self._last: str | None = None

    def __call__(self, log: Any, message: str, *args: Any) -> None:
        """Log ``message % args`` at INFO if it is new, at DEBUG if it repeats the last one."""
        text = message % args if args else message
        level = logging.DEBUG if text == self._last else logging.INFO
        self._last = text
        log.log(level, message, *args)


def is_pending(status: int, pending_statuses: Collection[int]) -> bool:
    """Tell whether an answer means "not yet": a non-2xx status the sensor was told to wait through.

    A 2xx is always an answer to judge, even when listed.
    """
    return status in pending_statuses and not 200 <= status < 300
