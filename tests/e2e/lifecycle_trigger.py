"""A trigger and an operator that use LockitHook from the triggerer, for the token-lifecycle e2e test.

The trigger takes only JSON kwargs (no token), gets tokens from the same single-flight refresher as
tasks (in a worker thread, so the event loop never blocks) and calls the API with httpx.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.sdk import BaseOperator, Context
from airflow.triggers.base import BaseTrigger, TriggerEvent

from lockit_provider.hooks.lockit import LockitHook

CONN_ID = "lockit_lifecycle"  # the session stack points it at a sandbox that rotates and revokes
EXPIRES_IN = 8  # seconds an access token of that sandbox lives


class HammerTrigger(BaseTrigger):
    """Call ``GET /projects`` repeatedly for ``duration`` seconds from the triggerer."""

    def __init__(self, conn_id: str, duration: float, pause: float) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.duration = duration
        self.pause = pause

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "duration": self.duration, "pause": self.pause},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = await asyncio.to_thread(LockitHook, self.conn_id)
            url = await asyncio.to_thread(hook.url_for, "/projects")
            calls = 0
            deadline = time.monotonic() + self.duration
            async with httpx.AsyncClient(timeout=30) as client:
                while time.monotonic() < deadline:
                    token = await asyncio.to_thread(hook.get_access_token)
                    response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
                    response.raise_for_status()
                    calls += 1
                    await asyncio.sleep(self.pause)
            yield TriggerEvent({"status": "success", "calls": calls})
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})


class HammerFromTriggererOperator(BaseOperator):
    """Defer at once to HammerTrigger and fail clearly if its event reports an error."""

    def __init__(self, *, duration: float, pause: float, conn_id: str = "lockit_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.duration = duration
        self.pause = pause
        self.conn_id = conn_id

    def execute(self, context: Context) -> None:
        self.defer(
            trigger=HammerTrigger(self.conn_id, self.duration, self.pause),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> int:
        if event.get("status") != "success":
            raise RuntimeError(f"trigger failed: {event.get('message')}")
        return int(event["calls"])
