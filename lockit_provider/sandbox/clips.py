"""Which clip names match which takes: the seed takes plus clips scheduled to appear later."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from lockit_provider.sandbox import data
from lockit_provider.sandbox.data import Take

SCHEDULED_COMMENT = "Logged after the clip was first asked for (sandbox /_sandbox/clips)."


class ClipBoard:
    """Seed takes per shooting day, and takes that become visible only after a delay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scheduled: dict[str, dict[str, tuple[float, Take]]] = {}

    def schedule(self, project_id: str, day_id: str, clips: Iterable[str], after: float) -> None:
        """Make ``clips`` match on that day ``after`` seconds from now; raise LookupError for unknown ids."""
        days = data.PROJECT_DAYS.get(project_id, [])
        if not any(day["uuid"] == day_id for day in days):
            raise LookupError(f"project {project_id!r} has no shooting day {day_id!r}")
        scenes = data.SCENES[project_id]
        if not scenes:
            raise LookupError(f"project {project_id!r} has no scenes to log takes against")
        ready_at = time.monotonic() + after
        with self._lock:
            pending = self._scheduled.setdefault(day_id, {})
            for number, clip in enumerate(clips, start=len(pending) + 1):
                camera = clip[:1].upper() if clip[:1].isalpha() else "A"
                take = Take(clip, scenes[0]["uuid"], "1", number, camera, comment=SCHEDULED_COMMENT)
                pending[clip] = (ready_at, take)

    def match(self, day_id: str, clips: Iterable[str]) -> list[Take]:
        """Return the takes of the clips that match on that day, in the order asked; others are left out."""
        seeded = data.TAKES.get(day_id, {})
        now = time.monotonic()
        with self._lock:
            pending = self._scheduled.get(day_id, {})
            found = []
            for clip in clips:
                take = seeded.get(clip)
                if take is None and clip in pending and pending[clip][0] <= now:
                    take = pending[clip][1]
                if take is not None:
                    found.append(take)
            return found
