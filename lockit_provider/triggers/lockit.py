"""Deferrable triggers: one API call, or polling until a condition holds, on the async hook.

Their kwargs are JSON values and never a token (the triggerer reads the connection itself); their
events are JSON with a ``status``. Any failure becomes an error event that the task turns into a
clear failure (:func:`lockit_provider.triggers.events.event_payload`).
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from lockit_provider.exceptions import LockitApiError, LockitError, is_transient
from lockit_provider.hooks.lockit import LockitAsyncHook
from lockit_provider.hooks.resources import preview_names, unmatched_clips
from lockit_provider.operators.output import ensure_fits_xcom
from lockit_provider.triggers.checks import judge
from lockit_provider.triggers.events import error_event, success_event


class LockitTrigger(BaseTrigger, abc.ABC):
    """Base of the LockitNetwork triggers: JSON kwargs, one async hook per run, errors as events."""

    def __init__(self, *, lockit_conn_id: str, **kwargs: Any) -> None:
        super().__init__()
        self.lockit_conn_id = lockit_conn_id
        self.kwargs = kwargs
        # Checked here, in the task that defers, rather than later in the triggerer.
        try:
            json.dumps(self.serialize()[1])
        except (TypeError, ValueError) as err:
            raise TypeError(f"{type(self).__name__} arguments must be JSON values: {err}") from None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON kwargs that rebuild this trigger."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {"lockit_conn_id": self.lockit_conn_id, **self.kwargs}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the outcome and yield it as one event (a failure too)."""
        hook = LockitAsyncHook(self.lockit_conn_id)
        try:
            event = await self.wait(hook)
        except Exception as err:
            self.log.error("LockitNetwork trigger failed: %s", err)
            event = error_event(err)
        finally:
            await hook.aclose()
        yield event

    @abc.abstractmethod
    async def wait(self, hook: LockitAsyncHook) -> TriggerEvent:
        """Return the success event; raise on failure."""


class LockitRequestTrigger(LockitTrigger):
    """Make one API call and return its JSON body (refused when larger than ``max_bytes``)."""

    def __init__(
        self,
        *,
        lockit_conn_id: str,
        method: str,
        endpoint: str,
        max_bytes: int,
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry_non_idempotent: bool = False,
    ) -> None:
        super().__init__(
            lockit_conn_id=lockit_conn_id,
            method=method,
            endpoint=endpoint,
            max_bytes=max_bytes,
            query=query,
            body=body,
            headers=headers,
            retry_non_idempotent=retry_non_idempotent,
        )

    async def wait(self, hook: LockitAsyncHook) -> TriggerEvent:
        """Call the endpoint and return its body."""
        kw = self.kwargs
        body = await hook.get_json(
            kw["method"],
            kw["endpoint"],
            params=kw["query"],
            json=kw["body"],
            headers=kw["headers"],
            retry_non_idempotent=kw["retry_non_idempotent"],
        )
        ensure_fits_xcom(body, kw["max_bytes"], f"{kw['method']} {kw['endpoint']}")
        return success_event(body=body)


class LockitPollTrigger(LockitTrigger):
    """Poll every ``poke_interval`` seconds until :meth:`poll` returns an event.

    The task poked just before deferring, so the first poll waits one interval. Transient failures
    (outage, rate limit, token endpoint hiccup) are logged and polled again; others end the wait.
    """

    async def wait(self, hook: LockitAsyncHook) -> TriggerEvent:
        """Poll until done."""
        interval = float(self.kwargs["poke_interval"])
        while True:
            await asyncio.sleep(interval)
            try:
                event = await self.poll(hook)
            except LockitError as err:
                if not is_transient(err):
                    raise
                self.log.warning("Transient failure, polling again in %g s: %s", interval, err)
                continue
            if event is not None:
                return event

    @abc.abstractmethod
    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Check once: return the success event when done, else None."""


class LockitSensorTrigger(LockitPollTrigger):
    """Poll ``GET endpoint`` until it answers 2xx and the importable ``check`` accepts the body."""

    def __init__(
        self,
        *,
        lockit_conn_id: str,
        endpoint: str,
        poke_interval: float,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        check: str | None = None,
        pending_statuses: list[int] | None = None,
    ) -> None:
        super().__init__(
            lockit_conn_id=lockit_conn_id,
            endpoint=endpoint,
            poke_interval=poke_interval,
            query=query,
            headers=headers,
            check=check,
            pending_statuses=list(pending_statuses or []),
        )

    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Call the endpoint once and judge the answer."""
        kw = self.kwargs
        try:
            body = await hook.get_json("GET", kw["endpoint"], params=kw["query"], headers=kw["headers"])
        except LockitApiError as err:
            if err.status in kw["pending_statuses"]:
                self.log.info("%s answered HTTP %s; polling again", kw["endpoint"], err.status)
                return None
            raise
        # User code: off the event loop, in case it is slow.
        done, xcom_value = await asyncio.to_thread(judge, kw["check"], body)
        return success_event(xcom_value=xcom_value) if done else None


class LockitClipsMatchedTrigger(LockitPollTrigger):
    """Poll matchClips until every clip has take metadata on the shooting day."""

    def __init__(
        self,
        *,
        lockit_conn_id: str,
        project_id: str,
        day_id: str,
        clips: list[str],
        poke_interval: float,
    ) -> None:
        super().__init__(
            lockit_conn_id=lockit_conn_id,
            project_id=project_id,
            day_id=day_id,
            clips=list(clips),
            poke_interval=poke_interval,
        )

    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Match the clips once; done when none is missing."""
        kw = self.kwargs
        matches = await hook.match_clips(kw["project_id"], kw["day_id"], kw["clips"])
        missing = unmatched_clips(kw["clips"], matches)
        if missing:
            self.log.info(
                "%d of %d clips have take metadata; waiting for %s",
                len(kw["clips"]) - len(missing),
                len(kw["clips"]),
                preview_names(missing),
            )
            return None
        return success_event(
            xcom_value={"project_id": kw["project_id"], "day_id": kw["day_id"], "clips": kw["clips"]}
        )
