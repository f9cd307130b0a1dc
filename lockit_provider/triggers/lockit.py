"""Deferrable triggers: one API call, or polling until a condition holds, on the async hook.

Each trigger keeps its arguments as attributes (so Airflow can render those that are template
fields of the task) and serializes the names in ``serialized_fields``: JSON values only, never a
token (the triggerer reads the connection and the token store itself). Events are JSON with a
``status``; any failure becomes an error event that the task turns into a clear failure
(:func:`lockit_provider.triggers.events.event_payload`).
"""

from __future__ import annotations

import abc
import asyncio
import functools
import importlib
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from lockit_provider.common.matches import split_matches
from lockit_provider.common.output import ensure_fits_xcom
from lockit_provider.common.response import safe_headers
from lockit_provider.common.waiting import WaitingLog, is_pending
from lockit_provider.exceptions import LockitError, is_transient
from lockit_provider.hooks import single_flight
from lockit_provider.hooks.errors import decode_json
from lockit_provider.hooks.resources import preview_names
from lockit_provider.triggers.checks import judge
from lockit_provider.triggers.events import error_event, success_event
from lockit_provider.triggers.heap import freeze_startup_heap

if TYPE_CHECKING:
    from lockit_provider.hooks.lockit import LockitAsyncHook

# The triggerer imports a trigger's module on its event loop. The hook's module (httpx, the OAuth
# client, the token store: 0.1-0.25 s) is imported apart, on a worker thread, when a trigger first runs.
HOOK_MODULE = "lockit_provider.hooks.lockit"
FIRST_WAIT_MIN = 0.5  # the first poll comes after this fraction of the interval at the soonest


async def new_async_hook(lockit_conn_id: str) -> LockitAsyncHook:
    """Return a new async hook, importing its module off the event loop the first time."""
    hook_class = _loaded.get("LockitAsyncHook")
    if hook_class is None:
        # Not sys.modules: it holds a module that another thread is still importing.
        load = functools.partial(importlib.import_module, HOOK_MODULE)
        module = await single_flight.once(("import", HOOK_MODULE), load)
        hook_class = _loaded["LockitAsyncHook"] = module.LockitAsyncHook
        freeze_startup_heap()  # the heap is now what this process keeps: see triggers/heap.py
    hook: LockitAsyncHook = hook_class(lockit_conn_id)
    return hook


_loaded: dict[str, Any] = {}


class LockitTrigger(BaseTrigger, abc.ABC):
    """Base of the LockitNetwork triggers: attributes as kwargs, one async hook per run, errors as events.

    :param lockit_conn_id: The ``lockit`` connection.
    """

    #: The attributes :meth:`serialize` hands to the constructor when the triggerer rebuilds it.
    serialized_fields: ClassVar[tuple[str, ...]] = ("lockit_conn_id",)

    def __init__(self, *, lockit_conn_id: str) -> None:
        super().__init__()
        self.lockit_conn_id = lockit_conn_id

    def refuse_non_json(self) -> None:
        """Raise TypeError unless every argument is a JSON value (checked in the task that defers)."""
        try:
            json.dumps(self.serialize()[1])
        except (TypeError, ValueError) as err:
            raise TypeError(f"{type(self).__name__} arguments must be JSON values: {err}") from None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON kwargs that rebuild this trigger."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            name: getattr(self, name) for name in self.serialized_fields
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the outcome and yield it as one event (a failure too)."""
        hook = await new_async_hook(self.lockit_conn_id)
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
    """Make one API call and return its JSON body, status and safe headers.

    :param lockit_conn_id: The ``lockit`` connection.
    :param method: HTTP method.
    :param endpoint: Path below the API base URL.
    :param max_bytes: Refuse a body whose JSON is larger (it would go to XCom).
    :param query: Query parameters.
    :param body: JSON request body.
    :param headers: Extra request headers.
    :param retry_non_idempotent: Retry a POST/PATCH on 5xx and broken connections too.
    :param log_response: Log a token-free excerpt of the body (in the trigger's log).
    """

    serialized_fields = (
        "lockit_conn_id",
        "method",
        "endpoint",
        "max_bytes",
        "query",
        "body",
        "headers",
        "retry_non_idempotent",
        "log_response",
    )

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
        log_response: bool = False,
    ) -> None:
        super().__init__(lockit_conn_id=lockit_conn_id)
        self.method = method
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self.query = query
        self.body = body
        self.headers = headers
        self.retry_non_idempotent = retry_non_idempotent
        self.log_response = log_response
        self.refuse_non_json()

    async def wait(self, hook: LockitAsyncHook) -> TriggerEvent:
        """Call the endpoint and return its body, status and headers."""
        response = await hook.request(
            self.method,
            self.endpoint,
            params=self.query,
            json=self.body,
            headers=self.headers,
            retry_non_idempotent=self.retry_non_idempotent,
            log_response=self.log_response,
        )
        body = decode_json(response.content, self.method, self.endpoint, response.status_code)
        ensure_fits_xcom(body, self.max_bytes, f"{self.method} {self.endpoint}")
        return success_event(
            body=body, http_status=response.status_code, headers=safe_headers(response.headers)
        )


class LockitPollTrigger(LockitTrigger):
    """Poll every ``poke_interval`` seconds until :meth:`poll` returns an event.

    The task poked just before deferring, so the first poll waits between half an interval and one
    (at random, so that sensors deferred together do not poll together). Transient failures
    (outage, rate limit, token endpoint hiccup) are logged and polled again; others end the wait.
    "Still waiting" is logged at INFO only when it changes
    (:class:`~lockit_provider.common.waiting.WaitingLog`).
    """

    poke_interval: float

    def __init__(self, *, lockit_conn_id: str) -> None:
        super().__init__(lockit_conn_id=lockit_conn_id)
        self._waiting = WaitingLog()

    async def wait(self, hook: LockitAsyncHook) -> TriggerEvent:
        """Poll until done."""
        hook.call_log_level = logging.DEBUG  # quiet polling: the waiting line says what changed
        interval = float(self.poke_interval)
        # Sensors deferred together would poll together for ever, hundreds of polls in one loop turn
        # (0.1 s and more with 200). The set-up they share (the connection read: seconds in a fresh
        # triggerer) comes first; then a first wait anywhere in the interval's second half spreads them.
        await hook.get_conn()
        wait = interval * random.uniform(FIRST_WAIT_MIN, 1.0)
        while True:
            await self._sleep(wait)
            wait = interval
            try:
                event = await self.poll(hook)
            except LockitError as err:
                if not is_transient(err):
                    raise
                self.log.warning("Transient failure, polling again in %g s: %s", interval, err)
                continue
            if event is not None:
                return event

    async def _sleep(self, seconds: float) -> None:
        """Wait between polls (tests replace it to see the waits chosen)."""
        await asyncio.sleep(seconds)

    @abc.abstractmethod
    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Check once: return the success event when done, else None."""


class LockitSensorTrigger(LockitPollTrigger):
    """Poll ``GET endpoint`` until it answers 2xx and the importable ``check`` accepts the body.

    :param lockit_conn_id: The ``lockit`` connection.
    :param endpoint: Path below the API base URL.
    :param poke_interval: Seconds between polls.
    :param query: Query parameters.
    :param headers: Extra request headers.
    :param check: Import path of a function that judges the body (None: any 2xx will do).
    :param pending_statuses: HTTP statuses that mean "not yet".
    """

    serialized_fields = (
        "lockit_conn_id",
        "endpoint",
        "poke_interval",
        "query",
        "headers",
        "check",
        "pending_statuses",
    )

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
        super().__init__(lockit_conn_id=lockit_conn_id)
        self.endpoint = endpoint
        self.poke_interval = poke_interval
        self.query = query
        self.headers = headers
        self.check = check
        self.pending_statuses = list(pending_statuses or [])
        self.refuse_non_json()

    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Call the endpoint once and judge the answer."""
        # A pending status is an answer, not an error: nothing is quoted or raised for it.
        pending = self.pending_statuses
        response = await hook.request(
            "GET", self.endpoint, params=self.query, headers=self.headers, accept_statuses=pending
        )
        if is_pending(response.status_code, pending):
            self._waiting(self.log, "%s answered HTTP %s; still waiting", self.endpoint, response.status_code)
            return None
        body = decode_json(response.content, "GET", self.endpoint, response.status_code)
        # User code: off the event loop, in case it is slow.
        done, xcom_value = await asyncio.to_thread(judge, self.check, body)
        if not done:
            self._waiting(self.log, "%s: the check says not yet; still waiting", self.endpoint)
            return None
        return success_event(xcom_value=xcom_value)


class LockitClipsMatchedTrigger(LockitPollTrigger):
    """Poll matchClips until every clip has take metadata on the shooting day.

    :param lockit_conn_id: The ``lockit`` connection.
    :param project_id: The project's id.
    :param day_id: The shooting day's id.
    :param clips: Camera clip file names.
    :param poke_interval: Seconds between polls.
    """

    serialized_fields = ("lockit_conn_id", "project_id", "day_id", "clips", "poke_interval")

    def __init__(
        self,
        *,
        lockit_conn_id: str,
        project_id: str,
        day_id: str,
        clips: list[str],
        poke_interval: float,
    ) -> None:
        super().__init__(lockit_conn_id=lockit_conn_id)
        self.project_id = project_id
        self.day_id = day_id
        self.clips = list(clips)
        self.poke_interval = poke_interval
        self.refuse_non_json()

    async def poll(self, hook: LockitAsyncHook) -> TriggerEvent | None:
        """Match the clips once; done when none is missing."""
        matches = await hook.match_clips(self.project_id, self.day_id, self.clips)
        _, missing = split_matches(self.clips, matches)
        if missing:
            self._waiting(
                self.log,
                "%d of %d clips have take metadata; waiting for %s",
                len(self.clips) - len(missing),
                len(self.clips),
                preview_names(missing),
            )
            return None
        return success_event(
            xcom_value={"project_id": self.project_id, "day_id": self.day_id, "clips": self.clips}
        )
