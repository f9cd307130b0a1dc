"""Deterministic seed data: projects, shooting days, episodes, scenes and recorded takes.

Ids are the first 32 hex digits of the SHA-256 of a readable key, so they never change between runs
and tests may use the constants below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


def make_id(*parts: str | int) -> str:
    """Return the 32-hex-digit id derived from ``parts``."""
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Take:
    """A take the script supervisor logged against a camera clip."""

    clip: str
    scene_id: str
    shot: str
    take: int
    camera: str
    circled: bool = False
    comment: str = ""


SERIES_ID = make_id("project", "Northern Lights")
FILM_ID = make_id("project", "The Quiet Harbour")
NON_PREMIUM_ID = make_id("project", "Corporate Reel")

EPISODE_1_ID = make_id(SERIES_ID, "episode", 1)
EPISODE_2_ID = make_id(SERIES_ID, "episode", 2)

SERIES_DAY_IDS = tuple(make_id(SERIES_ID, "day", n) for n in (1, 2, 3))
FILM_DAY_IDS = tuple(make_id(FILM_ID, "day", n) for n in (1, 2))


def _scene_id(project_id: str, episode: int | None, number: int, additional: str = "") -> str:
    return make_id(project_id, "scene", episode or 0, f"{number}{additional}")


SCENE_1_1_ID = _scene_id(SERIES_ID, 1, 1)  # episode 1, scene 1
SCENE_1_2_ID = _scene_id(SERIES_ID, 1, 2)
SCENE_1_2A_ID = _scene_id(SERIES_ID, 1, 2, "A")
SCENE_2_5_ID = _scene_id(SERIES_ID, 2, 5)
SCENE_2_7_ID = _scene_id(SERIES_ID, 2, 7)
FILM_SCENE_10_ID = _scene_id(FILM_ID, None, 10)
FILM_SCENE_11_ID = _scene_id(FILM_ID, None, 11)

PROJECTS: list[JsonObject] = [
    {
        "uuid": SERIES_ID,
        "name": "Northern Lights",
        "isSeries": True,
        "isPremium": True,
        "productionCompany": "Aurora Pictures GmbH",
        "created": 1767225600,
    },
    {
        "uuid": FILM_ID,
        "name": "The Quiet Harbour",
        "isSeries": False,
        "isPremium": True,
        "productionCompany": "Harbour Films Ltd",
        "created": 1769904000,
    },
    {
        "uuid": NON_PREMIUM_ID,
        "name": "Corporate Reel",
        "isSeries": False,
        "isPremium": False,
        "productionCompany": "Small Agency",
        "created": 1772323200,
    },
]

EPISODES: dict[str, list[JsonObject]] = {
    SERIES_ID: [
        {
            "uuid": EPISODE_1_ID,
            "episodeNumber": 1,
            "episodeName": "Pilot",
            "scheduledRunningTime": 3000,
            "created": 1767312000,
        },
        {
            "uuid": EPISODE_2_ID,
            "episodeNumber": 2,
            "episodeName": "Thaw",
            "scheduledRunningTime": 2880,
            "created": 1767312060,
        },
    ],
    FILM_ID: [],  # a feature film has no episodes: its scenes and matches carry "episode": null
    NON_PREMIUM_ID: [],
}


def _scene(
    uuid: str,
    episode: str | None,
    number: int,
    content: str,
    day_night: str,
    in_out: str,
    sets: list[str],
    additional: str = "",
    mother: str | None = None,
) -> JsonObject:
    return {
        "uuid": uuid,
        "episode": episode,
        "number": number,
        "additional": additional,
        "content": content,
        "comment": "",
        "dayNight": day_night,
        "inOut": in_out,
        "sets": sets,
        "motherScene": mother,
    }


SCENES: dict[str, list[JsonObject]] = {
    SERIES_ID: [
        _scene(SCENE_1_1_ID, EPISODE_1_ID, 1, "Mara finds the letter.", "DAY", "INT", ["Kitchen"]),
        _scene(SCENE_1_2_ID, EPISODE_1_ID, 2, "The ferry leaves without her.", "NIGHT", "EXT", ["Harbour"]),
        _scene(
            SCENE_1_2A_ID,
            EPISODE_1_ID,
            2,
            "Close on the ferry lights.",
            "NIGHT",
            "EXT",
            ["Harbour"],
            additional="A",
            mother=SCENE_1_2_ID,
        ),
        _scene(SCENE_2_5_ID, EPISODE_2_ID, 5, "Jonas repairs the boat.", "DAY", "EXT", ["Boatyard"]),
        _scene(SCENE_2_7_ID, EPISODE_2_ID, 7, "Dinner in silence.", "NIGHT", "INT", ["Kitchen", "Hallway"]),
    ],
    FILM_ID: [
        _scene(FILM_SCENE_10_ID, None, 10, "The lighthouse keeper wakes.", "DAY", "INT", ["Lighthouse"]),
        _scene(FILM_SCENE_11_ID, None, 11, "Storm over the bay.", "NIGHT", "EXT", ["Bay"]),
    ],
    NON_PREMIUM_ID: [],
}


def _day(
    project_id: str, day_id: str, number: int, date: tuple[int, int, int], block: str | None
) -> JsonObject:
    year, month, day = date
    return {
        "uuid": day_id,
        "project": project_id,
        "day": number,
        "prefix": "DAY",
        "suffix": "",
        "date": {"year": year, "month": month, "day": day},
        "unit": "Main Unit",
        "episodeBlock": block,
    }


PROJECT_DAYS: dict[str, list[JsonObject]] = {
    SERIES_ID: [
        _day(SERIES_ID, SERIES_DAY_IDS[0], 1, (2026, 5, 12), "Block 1"),
        _day(SERIES_ID, SERIES_DAY_IDS[1], 2, (2026, 5, 13), "Block 1"),
        _day(SERIES_ID, SERIES_DAY_IDS[2], 3, (2026, 5, 14), "Block 1"),
    ],
    FILM_ID: [
        _day(FILM_ID, FILM_DAY_IDS[0], 1, (2026, 6, 1), None),
        _day(FILM_ID, FILM_DAY_IDS[1], 2, (2026, 6, 2), None),
    ],
    NON_PREMIUM_ID: [],
}

# Takes per shooting day, keyed by camera clip file name.
TAKES: dict[str, dict[str, Take]] = {
    day_id: {take.clip: take for take in takes}
    for day_id, takes in {
        SERIES_DAY_IDS[0]: [
            Take("A001_C001_0512AB.R3D", SCENE_1_1_ID, "1", 1, "A"),
            Take("A001_C002_0512AB.R3D", SCENE_1_1_ID, "1", 2, "A", circled=True, comment="Best performance"),
            Take("A001_C003_0512AB.R3D", SCENE_1_2_ID, "2", 1, "A", circled=True),
            Take("B001_C001_0512CD.R3D", SCENE_1_2_ID, "2B", 1, "B", comment="Focus buzz at the end"),
        ],
        SERIES_DAY_IDS[1]: [
            Take("A002_C004_0513AB.R3D", SCENE_1_2A_ID, "1", 1, "A"),
            Take("B002_C011_0513CD.R3D", SCENE_2_5_ID, "3", 4, "B", circled=True),
        ],
        SERIES_DAY_IDS[2]: [
            Take("A003_C001_0514AB.R3D", SCENE_2_7_ID, "1", 1, "A", circled=True),
        ],
        FILM_DAY_IDS[0]: [
            Take("A001C001_260601_R1QH.mxf", FILM_SCENE_10_ID, "1", 1, "A"),
            Take("A001C002_260601_R1QH.mxf", FILM_SCENE_10_ID, "1", 2, "A", circled=True),
        ],
        FILM_DAY_IDS[1]: [
            Take(
                "A002C005_260602_R1QH.mxf",
                FILM_SCENE_11_ID,
                "4",
                3,
                "A",
                circled=True,
                comment="Rain machine",
            ),
        ],
    }.items()
}

PROJECTS_BY_ID: dict[str, JsonObject] = {p["uuid"]: p for p in PROJECTS}
EPISODES_BY_ID: dict[str, JsonObject] = {e["uuid"]: e for es in EPISODES.values() for e in es}
SCENES_BY_ID: dict[str, JsonObject] = {s["uuid"]: s for ss in SCENES.values() for s in ss}
