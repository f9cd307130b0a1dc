"""Optional: refresh the LockitNetwork token well before it expires, so ordinary tasks never have to.

Every task refreshes on demand anyway (once, single-flight, persisted before use). With many tasks
on many hosts, one scheduled refresh ahead of time makes it rare that two hosts refresh at once.

Retries are for what may pass (the token endpoint down, a lock held elsewhere). A configuration
error or a dead grant fails the task at once (``failing_fast``): no retry can fix it, and the person
who must fix it hears of it now rather than after 3 x 5 minutes.
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
    def refresh_early(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Refresh when the token expires within the window; returns no token, only its state."""
        assert params is not None  # Airflow passes the run's params by name
        from lockit_provider.common.task_base import failing_fast
        from lockit_provider.hooks.lockit import LockitHook

        with failing_fast():
            within = float(params["refresh_within_hours"]) * 3600
            return LockitHook("lockit_default").refresh_token_early(within)

    refresh_early()


lockit_token_keeper()
