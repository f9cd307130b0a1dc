"""LockitNetwork resources: endpoint paths, and finding a project or shooting day by what users know.

Pure functions, shared by the sync and async hooks, the operators and the sensors.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from typing import Any

from lockit_provider.exceptions import LockitConfigError

JsonObject = dict[str, Any]

_LOCKIT_ID = re.compile(r"[0-9a-f]{32}")

PROJECTS = "/projects"


def project_days_path(project_id: str) -> str:
    """Return the path of a project's shooting days."""
    return f"/projects/{project_id}/projectdays"


def match_clips_path(project_id: str, day_id: str) -> str:
    """Return the path that matches camera clip names against a shooting day's takes."""
    return f"/projects/{project_id}/projectdays/{day_id}/matchClips"


def episodes_path(project_id: str, episode_id: str | None = None) -> str:
    """Return the path of a project's episodes, or of one episode."""
    path = f"/projects/{project_id}/episodes"
    return f"{path}/{episode_id}" if episode_id else path


def episode_scenes_path(project_id: str, episode_id: str) -> str:
    """Return the path of an episode's scenes."""
    return f"{episodes_path(project_id, episode_id)}/scenes"


def scene_path(project_id: str, scene_id: str) -> str:
    """Return the path of one scene."""
    return f"/projects/{project_id}/scenes/{scene_id}"


def is_lockit_id(value: object) -> bool:
    """Tell whether ``value`` looks like a LockitNetwork id (32 hex digits, no dashes)."""
    return isinstance(value, str) and bool(_LOCKIT_ID.fullmatch(value.strip().lower()))


def pick_project(projects: Sequence[JsonObject], project: str) -> JsonObject:
    """Return the project whose id or name (case-insensitive) is ``project``."""
    wanted = project.strip().casefold()
    found = [p for p in projects if wanted in (str(p.get("uuid", "")).casefold(), str(p["name"]).casefold())]
    if len(found) == 1:
        return found[0]
    names = ", ".join(repr(p["name"]) for p in projects) or "none"
    problem = "matches several projects" if found else "is not a project you can see"
    raise LockitConfigError(f"Project {project!r} {problem}; visible projects: {names}.", field="project")


def day_date(day: JsonObject) -> datetime.date:
    """Return a shooting day's calendar date."""
    date = day["date"]
    return datetime.date(int(date["year"]), int(date["month"]), int(date["day"]))


def pick_project_day(days: Sequence[JsonObject], day: str | datetime.date) -> JsonObject:
    """Return the shooting day whose id is ``day``, or whose date is ``day`` (a date or ``YYYY-MM-DD``)."""
    if isinstance(day, str) and is_lockit_id(day):
        found = [d for d in days if d["uuid"] == day.strip().lower()]
    else:
        wanted = _as_date(day)
        found = [d for d in days if day_date(d) == wanted]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"{day_date(d)} ({d.get('unit') or 'no unit'}, id {d['uuid']})" for d in days)
    problem = "matches several shooting days: give the day's id" if found else "is not a shooting day"
    raise LockitConfigError(
        f"Shooting day {str(day)!r} {problem}. Days of this project: {listed or 'none'}.",
        field="shooting_day",
    )


def _as_date(day: str | datetime.date) -> datetime.date:
    if isinstance(day, datetime.datetime):
        return day.date()
    if isinstance(day, datetime.date):
        return day
    try:
        return datetime.date.fromisoformat(str(day).strip()[:10])
    except ValueError:
        raise LockitConfigError(
            f"Shooting day {day!r} is neither a day id (32 hex digits) nor a date (YYYY-MM-DD).",
            field="shooting_day",
        ) from None


def unmatched_clips(clips: Iterable[str], matches: Iterable[JsonObject]) -> list[str]:
    """Return the clip names that have no match, in the order asked."""
    matched = {m.get("clip") for m in matches}
    return [clip for clip in clips if clip not in matched]


def preview_names(names: Sequence[str], limit: int = 5) -> str:
    """Return the first few names and how many more there are, for logs."""
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown
