"""Optional: refresh the LockitNetwork token well before it expires, so ordinary tasks never have to.

Every task refreshes on demand anyway (once, single-flight, persisted before use). With many tasks
on many hosts, one scheduled refresh ahead of time makes it rare that two hosts refresh at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task


@dag(
    schedule=timedelta(hours=6),
    catchup=False,
    max_active_runs=1,
    tags=["lockit", "example", "maintenance"],
    params={"refresh_within_hours": Param(48, type="number", minimum=0)},
)
def lockit_token_keeper() -> None:
    """Keep the token of ``lockit_default`` fresh."""

    @task(retries=3, retry_delay=timedelta(minutes=5))
    def refresh_early(params: dict[str, Any]) -> dict[str, Any]:
        """Refresh when the token expires within the window; returns no token, only its state."""
        from lockit_provider.hooks.lockit import LockitHook

        return LockitHook("lockit_default").refresh_token_early(float(params["refresh_within_hours"]) * 3600)

    refresh_early()


lockit_token_keeper()
