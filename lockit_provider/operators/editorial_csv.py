"""A CSV of matched takes that editorial tools (Premiere, Resolve, Avid) can merge into clip metadata."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

COLUMNS = ("Clip Name", "Episode", "Scene", "Shot", "Take", "Camera", "Circled", "Comments")


def scene_label(match: Mapping[str, Any]) -> str:
    """Return the scene as the slate shows it: number and suffix, e.g. ``2A``."""
    scene = match.get("scene") or {}
    return f"{scene.get('number', '')}{scene.get('additional') or ''}"


def editorial_row(match: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one matchClips entry into the CSV's columns."""
    episode = match.get("episode") or {}
    return {
        "Clip Name": match.get("clip", ""),
        "Episode": episode.get("episodeNumber", ""),
        "Scene": scene_label(match),
        "Shot": match.get("shot", ""),
        "Take": match.get("take", ""),
        "Camera": match.get("camera", ""),
        "Circled": "Yes" if match.get("circled") else "",
        "Comments": match.get("comment", ""),
    }


def editorial_csv(matches: Iterable[Mapping[str, Any]]) -> bytes:
    """Return the CSV (UTF-8, header row, one row per matched clip)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(editorial_row(match) for match in matches)
    return text.getvalue().encode("utf-8")
