"""Dailies: wait for the takes of a card's clips, match the clips, write the editor's CSV.

The script supervisor's takes reach LockitNetwork when the iPad syncs; this waits until every clip
has one, then matches them and writes a CSV the editor merges into the clips' metadata.

Trigger it when a card offload is done, e.g. with the clip names of the offload as ``clips``. The
sensor pokes once and then, when deferrable, waits in the triggerer without holding a worker slot.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag

from lockit_provider.operators.lockit import LockitMatchClipsOperator
from lockit_provider.sensors.lockit import LockitClipsMatchedSensor

OUTPUT_DIR = "/tmp/lockit-dailies"  # noqa: S108 - an example's default: point it at the editorial share


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
        "output_dir": Param(OUTPUT_DIR, type="string", description="Where the CSV goes"),
    },
)
def lockit_dailies() -> None:
    """Wait for takes, match clips, write the editorial CSV."""
    takes_synced = LockitClipsMatchedSensor(
        task_id="wait_for_takes",
        project="{{ params.project }}",
        shooting_day="{{ params.shooting_day }}",
        clips="{{ params.clips }}",
        poke_interval=15,
        timeout=timedelta(hours=12),
        mode="reschedule",
    )
    matched = LockitMatchClipsOperator(
        task_id="match_clips",
        # The sensor hands over the ids it found, so the match needs no second lookup by name.
        project="{{ ti.xcom_pull(task_ids='wait_for_takes')['project_id'] }}",
        shooting_day="{{ ti.xcom_pull(task_ids='wait_for_takes')['day_id'] }}",
        clips="{{ ti.xcom_pull(task_ids='wait_for_takes')['clips'] }}",
        csv_path="{{ params.output_dir }}/{{ params.shooting_day }}_dailies.csv",
    )
    takes_synced >> matched


lockit_dailies()
