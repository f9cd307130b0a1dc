"""Dailies: wait for the takes of a card's clips, match the clips, write the editor's CSV and ALE.

The script supervisor's takes reach LockitNetwork when the iPad syncs; this waits until every clip
has one, then matches them and writes a CSV (Premiere, Resolve) and an ALE (Avid) the editor merges
into the clips' metadata.

Trigger it when a card offload is done, e.g. with the clip names of the offload as ``clips``. The
sensor pokes once and then waits in the triggerer without holding a worker slot. The files go to the
``output_dir`` parameter: a local directory or an object storage URL (``s3://bucket/dailies``);
its default comes from the ``LOCKIT_DAILIES_DIR`` environment variable, else a directory in the
system's temporary directory.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from airflow.sdk import Param, dag

from lockit_provider.operators.lockit import LockitMatchClipsOperator
from lockit_provider.sensors.lockit import LockitClipsMatchedSensor

OUTPUT_DIR = os.environ.get("LOCKIT_DAILIES_DIR") or str(Path(tempfile.gettempdir()) / "lockit-dailies")
FILES = "{{ params.output_dir }}/{{ params.shooting_day }}_dailies"


@dag(
    schedule=None,
    catchup=False,
    tags=["lockit", "example", "dailies"],
    params={
        "project": Param("Northern Lights", type="string", description="Project name or id"),
        "shooting_day": Param("2026-05-12", type="string", description="Date (YYYY-MM-DD) or day id"),
        "clips": Param(
            ["A001_C001_0512AB.R3D", "A001_C002_0512AB.R3D", "A001_C003_0512AB.R3D"],
            type="array",
            description="Camera clip file names from the card offload",
        ),
        "output_dir": Param(
            OUTPUT_DIR, type="string", description="Where the CSV and ALE go: a directory or storage URL"
        ),
    },
)
def lockit_dailies() -> None:
    """Wait for takes, match clips, write the editorial CSV and ALE."""
    takes_synced = LockitClipsMatchedSensor(
        task_id="wait_for_takes",
        project="{{ params.project }}",
        shooting_day="{{ params.shooting_day }}",
        clips="{{ params.clips }}",
        deferrable=True,  # waits in the triggerer: no worker slot while the iPad has not synced
        poke_interval=15,
        timeout=timedelta(hours=12),
    )
    matched = LockitMatchClipsOperator(
        task_id="match_clips",
        # The sensor hands over the ids it found, so the match needs no second lookup by name.
        project="{{ ti.xcom_pull(task_ids='wait_for_takes')['project_id'] }}",
        shooting_day="{{ ti.xcom_pull(task_ids='wait_for_takes')['day_id'] }}",
        clips="{{ ti.xcom_pull(task_ids='wait_for_takes')['clips'] }}",
        csv_path=f"{FILES}.csv",
        ale_path=f"{FILES}.ale",
    )
    takes_synced >> matched


lockit_dailies()
