"""A CSV of matched takes that editorial tools (Avid, Resolve, Premiere) can merge into clip metadata."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

COLUMNS = ("Clip Name", "Episode", "Scene", "Shot", "Take", "Camera", "Circled", "Comments")


def editorial_row(match: dict[str, Any]) -> dict[str, Any]:
    """Flatten one matchClips entry into the CSV's columns."""
    scene = match.get("scene") or {}
    episode = match.get("episode") or {}
    return {
        "Clip Name": match.get("clip", ""),
        "Episode": episode.get("episodeNumber", ""),
        "Scene": f"{scene.get('number', '')}{scene.get('additional') or ''}",
        "Shot": match.get("shot", ""),
        "Take": match.get("take", ""),
        "Camera": match.get("camera", ""),
        "Circled": "Yes" if match.get("circled") else "",
        "Comments": match.get("comment", ""),
    }


def editorial_csv(matches: Iterable[dict[str, Any]]) -> bytes:
    """Return the CSV (UTF-8, header row, one row per matched clip)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(editorial_row(match) for match in matches)
    return text.getvalue().encode("utf-8")
