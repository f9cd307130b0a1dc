"""Which asked-for clips have a take: matchClips answers only for clips it knows, in any order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

JsonObject = dict[str, Any]


def has_take(match: Mapping[str, Any]) -> bool:
    """Tell whether a matchClips entry carries a take (an entry without one is not a match)."""
    return match.get("take") not in (None, "")


def split_matches(clips: Sequence[str], matches: Iterable[JsonObject]) -> tuple[list[JsonObject], list[str]]:
    """Return the matches with a take in the order the clips were asked, and the clips without one.

    Nothing is invented: a clip the answer leaves out, or lists without a take, is unmatched.
    """
    by_clip: dict[str, JsonObject] = {}
    for match in matches:
        clip = match.get("clip")
        if isinstance(clip, str) and has_take(match):
            by_clip.setdefault(clip, match)
    matched = [by_clip[clip] for clip in clips if clip in by_clip]
    return matched, [clip for clip in clips if clip not in by_clip]
