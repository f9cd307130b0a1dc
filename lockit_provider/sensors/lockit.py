"""Sensors for the LockitNetwork API: poke once, then defer to the triggerer when deferrable.

Without deferral they are ordinary sensors (``poke`` or ``reschedule`` mode). ``timeout`` and
``soft_fail`` behave the same either way: a deferral times out with the time left after the first
poke, and Airflow turns that (or an error event) into a timeout, a failure or, with soft_fail, a skip.
An error retrying cannot fix (a configuration error, a dead grant, a 403) fails the sensor at once
(or skips it with soft_fail); a transient one means "not yet".
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from lockit_provider.common.clip_names import clip_names
from lockit_provider.common.matches import split_matches
from lockit_provider.common.output import PathLike
from lockit_provider.common.task_base import (
    DEFAULT_CONN_ID,
    LockitHookMixin,
    default_deferrable,
    failing_fast,
)
from lockit_provider.common.waiting import WaitingLog, is_pending
from lockit_provider.exceptions import LockitError, is_transient
from lockit_provider.hooks.errors import decode_json
from lockit_provider.hooks.resources import preview_names
from lockit_provider.triggers.checks import Check, check_path, judge

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class LockitBaseSensor(LockitHookMixin, BaseSensorOperator, abc.ABC):
    """Poke with the sync hook; when deferrable and not done at once, wait in a trigger instead.

    A transient failure (outage, rate limit, token endpoint hiccup that outlasted the hook's retries)
    counts as "not yet"; any other error fails the task at once (``AirflowFailException``), or skips
    it with ``soft_fail``.

    :param lockit_conn_id: The ``lockit`` connection (templated).
    :param deferrable: Wait in the triggerer after the first poke. Default:
        ``[operators] default_deferrable``.
    """

    # Quiet polling: one line per poke only when what is awaited changes (the hook's line at DEBUG).
    hook_call_log_level = logging.DEBUG

    def __init__(
        self, *, lockit_conn_id: str = DEFAULT_CONN_ID, deferrable: bool | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.lockit_conn_id = lockit_conn_id
        self.deferrable = default_deferrable(deferrable)
        self._waiting = WaitingLog()

    @abc.abstractmethod
    def check(self, context: Context) -> bool | PokeReturnValue:
        """Check the condition once."""

    @abc.abstractmethod
    def trigger(self) -> BaseTrigger:
        """Return the trigger that waits for the condition."""

    def can_defer(self) -> bool:
        """Tell whether the condition can be checked in the triggerer."""
        return True

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check once; a transient failure means "not yet", one retrying cannot fix fails at once."""
        with failing_fast():
            try:
                return self.check(context)
            except LockitError as err:
                if not is_transient(err):
                    raise
                self.log.warning("Transient failure, poking again later: %s", err)
                return False

    def execute(self, context: Context) -> Any:
        """Poke once; if not done, defer when deferrable, else sense as any sensor does."""
        if not (self.deferrable and self.can_defer()):
            return super().execute(context)
        started = time.monotonic()
        result = self._first_poke(context)
        if result:
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        trigger = self.trigger()
        remaining = max(0.0, self.timeout - (time.monotonic() - started))
        self.log.info("Not done yet; deferring to the triggerer for at most %.0f s", remaining)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=remaining))

    def _first_poke(self, context: Context) -> bool | PokeReturnValue:
        """Poke once before deferring; skip for ``soft_fail``/``never_fail`` as Airflow's poke loop does."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        try:
            return self.poke(context)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"soft_fail: {err}") from err
            raise

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return its XCom value, or fail clearly on an error event."""
        from lockit_provider.triggers.events import event_payload

        try:
            return event_payload(event).get("xcom_value")
        except LockitError as err:
            if self.soft_fail:
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"soft_fail: {type(err).__name__}: {err}") from err
            with failing_fast():  # the rule of every task boundary: fail at once unless transient
                raise


class LockitSensor(LockitBaseSensor):
    """Wait until ``GET endpoint`` answers 2xx and ``response_check`` accepts the JSON body.

    ``response_check`` receives the body, then any context values it names, and returns a truth value
    or a ``PokeReturnValue``. To wait in the triggerer it must be importable there: a module-level
    function of an installed module, or its path as a string (e.g.
    ``"lockit_provider.triggers.checks.non_empty"``); it then receives the body only. A check
    defined in a DAG file cannot travel: the sensor then pokes from the worker and says so.

    :param endpoint: Path below the API base URL (templated).
    :param query: Query parameters (templated).
    :param headers: Extra request headers (templated).
    :param response_check: Decides when the wait is over; without one, any 2xx answer is.
    :param pending_statuses: HTTP statuses that mean "not yet" rather than failure, e.g. ``[404]``.
    :param lockit_conn_id: The ``lockit`` connection (templated).
    :param deferrable: Wait in the triggerer after the first poke.
    """

    template_fields: Sequence[str] = ("lockit_conn_id", "endpoint", "query", "headers")

    def __init__(
        self,
        *,
        endpoint: str,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        response_check: Check | None = None,
        pending_statuses: Sequence[int] = (),
        lockit_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lockit_conn_id=lockit_conn_id, deferrable=deferrable, **kwargs)
        self.endpoint = endpoint
        self.query = query
        self.headers = headers
        self.response_check = response_check
        self.pending_statuses = tuple(pending_statuses)

    def check(self, context: Context) -> bool | PokeReturnValue:
        """Call the endpoint once and judge the answer."""
        # A pending status is an answer, not an error: nothing is quoted or raised for it.
        pending = self.pending_statuses
        response = self.hook.request(
            "GET", self.endpoint, params=self.query, headers=self.headers, accept_statuses=pending
        )
        if is_pending(response.status_code, pending):
            self._waiting(self.log, "%s answered HTTP %s; still waiting", self.endpoint, response.status_code)
            return False
        body = decode_json(response.content, "GET", self.endpoint, response.status_code)
        done, xcom_value = judge(self.response_check, body, context)
        if not done:
            self._waiting(self.log, "%s: the check says not yet; still waiting", self.endpoint)
        return PokeReturnValue(done, xcom_value)

    def can_defer(self) -> bool:
        """Tell whether ``response_check`` (if any) can be imported by the triggerer; warn if not."""
        if self.response_check is None or check_path(self.response_check) is not None:
            return True
        self.log.warning(
            "response_check %r cannot be imported by the triggerer (defined in a DAG file?): poking "
            "from the worker instead of deferring. Move it into an installed module to defer.",
            self.response_check,
        )
        return False

    def trigger(self) -> BaseTrigger:
        """Return the trigger that polls the endpoint."""
        from lockit_provider.triggers.lockit import LockitSensorTrigger

        path = check_path(self.response_check) if self.response_check is not None else None
        return LockitSensorTrigger(
            lockit_conn_id=self.lockit_conn_id,
            endpoint=self.endpoint,
            poke_interval=self.poke_interval,
            query=self.query,
            headers=self.headers,
            check=path,
            pending_statuses=list(self.pending_statuses),
        )


class LockitClipsMatchedSensor(LockitBaseSensor):
    """Wait until every given clip has take metadata on a shooting day (dailies: the supervisor synced).

    Returns ``{"project_id", "day_id", "clips"}`` so a downstream task can match without looking the
    project and day up again.

    :param project: Project id, or name (templated).
    :param shooting_day: Shooting day id, or date ``YYYY-MM-DD`` (templated).
    :param clips: Clip file names: a list, an upstream task's ``.output``, or templated text.
    :param clips_file: A file (local path or object storage URL) listing one clip name per line (templated).
    :param lockit_conn_id: The ``lockit`` connection (templated).
    :param deferrable: Wait in the triggerer after the first poke.
    """

    template_fields: Sequence[str] = ("lockit_conn_id", "project", "shooting_day", "clips", "clips_file")

    def __init__(
        self,
        *,
        project: str,
        shooting_day: str,
        clips: Any = None,
        clips_file: PathLike | None = None,
        lockit_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lockit_conn_id=lockit_conn_id, deferrable=deferrable, **kwargs)
        self.project = project
        self.shooting_day = shooting_day
        self.clips = clips
        self.clips_file = clips_file
        self._target: dict[str, Any] | None = None

    def target(self) -> dict[str, Any]:
        """Return the project id, day id and clip names (looked up once per task run)."""
        if self._target is None:
            names = clip_names(self.clips, self.clips_file)
            project, day = self.hook.resolve_shooting_day(self.project, self.shooting_day)
            self._target = {"project_id": project["uuid"], "day_id": day["uuid"], "clips": names}
        return self._target

    def check(self, context: Context) -> bool | PokeReturnValue:
        """Match the clips once; done when none is missing."""
        target = self.target()
        matches = self.hook.match_clips(target["project_id"], target["day_id"], target["clips"])
        _, missing = split_matches(target["clips"], matches)
        if missing:
            self._waiting(
                self.log,
                "%d of %d clips have take metadata; waiting for %s",
                len(target["clips"]) - len(missing),
                len(target["clips"]),
                preview_names(missing),
            )
            return False
        return PokeReturnValue(True, target)

    def trigger(self) -> BaseTrigger:
        """Return the trigger that polls matchClips."""
        from lockit_provider.triggers.lockit import LockitClipsMatchedTrigger

        return LockitClipsMatchedTrigger(
            lockit_conn_id=self.lockit_conn_id, poke_interval=self.poke_interval, **self.target()
        )
