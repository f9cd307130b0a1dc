"""The editor's files: CSV and ALE, checked by an independent ALE reader and a hand-built sample."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from lockit_provider.common.matches import split_matches
from lockit_provider.operators.editorial_ale import camera_roll, clip_base_name, editorial_ale
from lockit_provider.operators.lockit import LockitMatchClipsOperator
from lockit_provider.sandbox import data
from tests.support.connections import use_sandbox

DAY_1 = next(d for d in data.PROJECT_DAYS[data.SERIES_ID] if d["uuid"] == data.SERIES_DAY_IDS[0])
SERIES = data.PROJECTS_BY_ID[data.SERIES_ID]

# Built by hand from Avid's ALE specification: a Heading section (FIELD_DELIM TABS, VIDEO_FORMAT,
# FPS), a blank line, the Column section (one tab-separated line of column names), a blank line, and
# the Data section (one tab-separated line per clip, as many fields as columns).
SAMPLE_ALE = (
    "Heading\n"
    "FIELD_DELIM\tTABS\n"
    "VIDEO_FORMAT\t1080\n"
    "FPS\t25\n"
    "\n"
    "Column\n"
    "Name\tTape\tSource File\tEpisode\tScene\tShot\tTake\tCamera\tCamroll\t"
    "Shoot Day\tShoot Date\tCircled\tComments\n"
    "\n"
    "Data\n"
    "A001_C002_0512AB\tA001_C002_0512AB\tA001_C002_0512AB.R3D\t1\t1\t1\t2\tA\tA001\t"
    "DAY 1\t2026-05-12\tYes\tBest performance\n"
    "B001_C001_0512CD\tB001_C001_0512CD\tB001_C001_0512CD.R3D\t1\t2\t2B\t1\tB\tB001\t"
    "DAY 1\t2026-05-12\t\tFocus buzz at the end\n"
)


def read_ale(text: str) -> dict[str, Any]:
    """Parse an ALE on its own terms (sections, tab fields), without the provider's code."""
    lines = text.splitlines()
    assert lines[0] == "Heading", "an ALE starts with its Heading section"
    sections: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line in ("Heading", "Column", "Data"):
            current = line
            sections[current] = []
        elif line.strip():
            sections[current].append(line)
    heading = dict(line.split("\t", 1) for line in sections["Heading"])
    assert heading["FIELD_DELIM"] == "TABS"
    (column_line,) = sections["Column"]
    columns = column_line.split("\t")
    rows = []
    for line in sections["Data"]:
        fields = line.split("\t")
        assert len(fields) == len(columns), f"{len(fields)} fields under {len(columns)} columns: {line!r}"
        rows.append(dict(zip(columns, fields, strict=True)))
    return {"heading": heading, "columns": columns, "rows": rows}


def test_the_reader_reads_the_hand_built_sample():
    ale = read_ale(SAMPLE_ALE)
    assert ale["heading"] == {"FIELD_DELIM": "TABS", "VIDEO_FORMAT": "1080", "FPS": "25"}
    assert ale["columns"][:2] == ["Name", "Tape"]
    assert ale["rows"][1]["Comments"] == "Focus buzz at the end"


def test_the_ale_equals_the_hand_built_sample():
    matches = [
        {
            "clip": "A001_C002_0512AB.R3D",
            "episode": {"episodeNumber": 1},
            "scene": {"number": 1, "additional": ""},
            "shot": "1",
            "take": 2,
            "camera": "A",
            "circled": True,
            "comment": "Best performance",
        },
        {
            "clip": "B001_C001_0512CD.R3D",
            "episode": {"episodeNumber": 1},
            "scene": {"number": 2, "additional": None},
            "shot": "2B",
            "take": 1,
            "camera": "B",
            "circled": False,
            "comment": "Focus buzz at the end",
        },
    ]
    assert editorial_ale(matches, project=SERIES, day=DAY_1, fps=25).decode() == SAMPLE_ALE


def test_heading_takes_the_format_and_rate_from_the_project_when_it_has_them():
    project = {**SERIES, "frameRate": 23.976, "videoFormat": "CUSTOM"}
    assert read_ale(editorial_ale([], project=project).decode())["heading"] == {
        "FIELD_DELIM": "TABS",
        "VIDEO_FORMAT": "CUSTOM",
        "FPS": "23.976",
    }
    # Unknown rate: no FPS line (Avid uses the project's); the format defaults to HD.
    assert read_ale(editorial_ale([], project=SERIES).decode())["heading"] == {
        "FIELD_DELIM": "TABS",
        "VIDEO_FORMAT": "1080",
    }
    assert read_ale(editorial_ale([], project=project, video_format="720", fps="50").decode())["heading"] == {
        "FIELD_DELIM": "TABS",
        "VIDEO_FORMAT": "720",
        "FPS": "50",
    }


def test_values_never_break_a_row_or_a_column():
    match = {"clip": "A001_C001.R3D", "scene": {"number": 3}, "take": 1, "comment": "tab\there\r\nnext line"}
    (row,) = read_ale(editorial_ale([match]).decode())["rows"]
    assert row["Comments"] == "tab here next line"


@pytest.mark.parametrize(
    ("clip", "name", "roll"),
    [
        ("A001_C001_0512AB.R3D", "A001_C001_0512AB", "A001"),
        ("A001C001_260601_R1QH.mxf", "A001C001_260601_R1QH", "A001"),
        ("/Volumes/CARD/B002_C011_0513CD.R3D", "B002_C011_0513CD", "B002"),
        ("clip_without_roll", "clip_without_roll", ""),
    ],
)
def test_avid_names_and_camera_rolls(clip, name, roll):
    assert (clip_base_name(clip), camera_roll(clip)) == (name, roll)


def test_an_entry_without_a_take_is_unmatched_and_never_a_row():
    matches = [{"clip": "A.R3D", "take": 1}, {"clip": "B.R3D", "take": None}, {"clip": "X.R3D", "take": 3}]
    matched, unmatched = split_matches(["B.R3D", "A.R3D", "C.R3D"], matches)
    assert [m["clip"] for m in matched] == ["A.R3D"]
    assert unmatched == ["B.R3D", "C.R3D"]


@pytest.fixture
def _sandbox_connection(monkeypatch, sandbox, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path)


@pytest.mark.usefixtures("_sandbox_connection")
@pytest.mark.parametrize("kind", ["local", "url", "object"])
def test_the_operator_writes_csv_and_ale_to_a_path_or_object_storage(tmp_path, kind):
    clips = ["A001_C002_0512AB.R3D", "Z999_C001_0512ZZ.R3D", "A001_C003_0512AB.R3D"]
    out = tmp_path / "editorial"
    out.mkdir()
    paths: dict[str, Any] = {
        "local": {"csv_path": str(out / "day1.csv"), "ale_path": str(out / "day1.ale")},
        "url": {"csv_path": f"file://{out}/day1.csv", "ale_path": f"file://{out}/day1.ale"},
        "object": {
            "csv_path": ObjectStoragePath(f"file://{out}/day1.csv"),
            "ale_path": ObjectStoragePath(f"file://{out}/day1.ale"),
        },
    }[kind]
    op = LockitMatchClipsOperator(
        task_id="match", project="Northern Lights", shooting_day="2026-05-12", clips=clips, **paths
    )
    result = op.execute({"params": {}})

    assert result["unmatched"] == ["Z999_C001_0512ZZ.R3D"]
    assert result["files"] == {"csv": str(paths["csv_path"]), "ale": str(paths["ale_path"])}
    ale = read_ale((out / "day1.ale").read_text())
    assert [row["Name"] for row in ale["rows"]] == ["A001_C002_0512AB", "A001_C003_0512AB"]
    assert ale["rows"][1] == {
        "Name": "A001_C003_0512AB",
        "Tape": "A001_C003_0512AB",
        "Source File": "A001_C003_0512AB.R3D",
        "Episode": "1",
        "Scene": "2",
        "Shot": "2",
        "Take": "1",
        "Camera": "A",
        "Camroll": "A001",
        "Shoot Day": "DAY 1",
        "Shoot Date": "2026-05-12",
        "Circled": "Yes",
        "Comments": "",
    }
    rows = list(csv.DictReader((out / "day1.csv").read_text().splitlines()))
    assert [row["Clip Name"] for row in rows] == ["A001_C002_0512AB.R3D", "A001_C003_0512AB.R3D"]
