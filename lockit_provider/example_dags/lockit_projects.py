"""List the LockitNetwork projects you can see and the shooting days of the premium ones.

Shows the generic operator and sensor: a sensor waits until any project is visible (its check is a
ready-made importable function, so it waits in the triggerer when deferrable), one call lists the
projects, and a mapped task per premium project lists its shooting days.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag

from lockit_provider.operators.lockit import LockitOperator
from lockit_provider.sensors.lockit import LockitSensor


def premium_project_ids(projects: list[dict[str, Any]]) -> list[str]:
    """Keep the projects with the Production Service: only they have shooting days."""
    return [project["uuid"] for project in projects if project["isPremium"]]


def days_endpoint(project_id: str) -> str:
    """Return the shooting days endpoint of a project."""
    return f"/projects/{project_id}/projectdays"


def day_summaries(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep what a report needs: id, day number, date and unit."""
    return [
        {"id": d["uuid"], "day": d["day"], "date": "{year:04d}-{month:02d}-{day:02d}".format(**d["date"])}
        | {"unit": d["unit"]}
        for d in days
    ]


@dag(schedule=None, catchup=False, tags=["lockit", "example"])
def lockit_projects() -> None:
    """List projects and shooting days."""
    any_project = LockitSensor(
        task_id="wait_for_projects",
        endpoint="/projects",
        response_check="lockit_provider.triggers.checks.non_empty",
        poke_interval=30,
        timeout=600,
    )
    projects = LockitOperator(
        task_id="list_projects", endpoint="/projects", response_filter=premium_project_ids
    )
    days = LockitOperator.partial(task_id="list_shooting_days", response_filter=day_summaries).expand(
        endpoint=projects.output.map(days_endpoint)
    )
    any_project >> projects >> days


lockit_projects()
