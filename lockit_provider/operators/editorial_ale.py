"""An ALE (Avid Log Exchange) of matched takes that Avid Media Composer imports into a bin.

The file has the three sections of Avid's ALE specification, separated by blank lines::

    Heading
    FIELD_DELIM<TAB>TABS
    VIDEO_FORMAT<TAB>1080
    FPS<TAB>24

    Column
    Name<TAB>Tape<TAB>...

    Data
    A001_C001_0512AB<TAB>A001_C001_0512AB<TAB>...

``Name`` is the clip as Avid names a file-based clip (its file name without the extension), ``Tape``
the same source name, ``Source File`` the file name itself and ``Camroll`` the camera roll (the
card: ``A001`` in ``A001_C001_0512AB.R3D`` and in ``A001C001_260601_R1QH.mxf``). LockitNetwork records
no timecode, so there are no Start/End columns. Values never contain a tab or a line break.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from lockit_provider.operators.editorial_csv import scene_label

COLUMNS = (
    "Name",
    "Tape",
    "Source File",
    "Episode",
    "Scene",
    "Shot",
    "Take",
    "Camera",
    "Camroll",
    "Shoot Day",
    "Shoot Date",
    "Circled",
    "Comments",
)
DEFAULT_VIDEO_FORMAT = "1080"  # HD, what file-based dailies are cut in; Avid expects a format line
_ROLL = re.compile(r"[A-Za-z]+\d+")
_BREAKS = re.compile(r"[\t\r\n\x0b\x0c]+")
# Where a project might say its format, should LockitNetwork add it (none is documented today).
_FPS_KEYS = ("fps", "frameRate", "framerate", "projectFps")
_VIDEO_FORMAT_KEYS = ("videoFormat", "video_format")


def clip_base_name(clip: str) -> str:
    """Return the clip's name as Avid shows it: the file name without directory and extension."""
    name = clip.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def camera_roll(clip: str) -> str:
    """Return the camera roll (card) a clip name starts with, e.g. ``A001``; empty if there is none."""
    found = _ROLL.match(clip_base_name(clip))
    return found.group(0) if found else ""


def heading(
    project: Mapping[str, Any] | None, video_format: str | None = None, fps: str | float | None = None
) -> dict[str, str]:
    """Return the Heading entries: tab delimiter, video format and (when known) the frame rate.

    An explicit ``video_format`` or ``fps`` wins; otherwise the project's own value is used when it
    has one; the frame rate is left out when nobody knows it (Avid then uses the project's).
    """
    project = project or {}
    fmt = video_format or _first(project, _VIDEO_FORMAT_KEYS) or DEFAULT_VIDEO_FORMAT
    entries = {"FIELD_DELIM": "TABS", "VIDEO_FORMAT": str(fmt)}
    rate = fps if fps not in (None, "") else _first(project, _FPS_KEYS)
    if rate not in (None, ""):
        entries["FPS"] = _format_rate(rate)
    return entries


def ale_row(match: Mapping[str, Any], day: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Flatten one matchClips entry (and its shooting day) into the ALE's columns."""
    clip = str(match.get("clip", ""))
    episode = match.get("episode") or {}
    day = day or {}
    return {
        "Name": clip_base_name(clip),
        "Tape": clip_base_name(clip),
        "Source File": clip,
        "Episode": _text(episode.get("episodeNumber")),
        "Scene": scene_label(match),
        "Shot": _text(match.get("shot")),
        "Take": _text(match.get("take")),
        "Camera": _text(match.get("camera")),
        "Camroll": camera_roll(clip),
        "Shoot Day": _shoot_day(day),
        "Shoot Date": _shoot_date(day),
        "Circled": "Yes" if match.get("circled") else "",
        "Comments": _text(match.get("comment")),
    }


def editorial_ale(
    matches: Iterable[Mapping[str, Any]],
    *,
    project: Mapping[str, Any] | None = None,
    day: Mapping[str, Any] | None = None,
    video_format: str | None = None,
    fps: str | float | None = None,
) -> bytes:
    """Return the ALE (UTF-8, LF line ends): Heading, Column and Data sections, one row per clip."""
    lines = ["Heading"]
    lines += [f"{key}\t{_clean(value)}" for key, value in heading(project, video_format, fps).items()]
    lines += ["", "Column", "\t".join(COLUMNS), "", "Data"]
    for match in matches:
        row = ale_row(match, day)
        lines.append("\t".join(_clean(row[column]) for column in COLUMNS))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _first(values: Mapping[str, Any], keys: Iterable[str]) -> Any:
    return next((values[key] for key in keys if values.get(key) not in (None, "")), None)


def _format_rate(rate: str | float) -> str:
    if isinstance(rate, float) and rate.is_integer():
        return str(int(rate))
    return str(rate)


def _shoot_day(day: Mapping[str, Any]) -> str:
    number = day.get("day")
    if number in (None, ""):
        return ""
    prefix, suffix = day.get("prefix") or "", day.get("suffix") or ""
    return " ".join(part for part in (prefix, f"{number}{suffix}") if part)


def _shoot_date(day: Mapping[str, Any]) -> str:
    date = day.get("date") or {}
    try:
        return "{:04d}-{:02d}-{:02d}".format(int(date["year"]), int(date["month"]), int(date["day"]))
    except (KeyError, TypeError, ValueError):
        return ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _clean(value: str) -> str:
    """Keep a value on its line and in its column: tabs and line breaks become one space."""
    return _BREAKS.sub(" ", value).strip()
