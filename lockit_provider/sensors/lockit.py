"""Sensors for the LockitNetwork API: poke once, then defer to the triggerer when deferrable.

Without deferral they are ordinary sensors (``poke`` or ``reschedule`` mode). ``timeout`` and
``soft_fail`` behave the same either way: a deferral times out with the time left after the first
poke, and Airflow turns that (or an error event) into a timeout, a failure or, with soft_fail, a skip.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from lockit_provider.exceptions import LockitApiError, LockitError, fail_fast, is_transient
from lockit_provider.hooks.resources import preview_names, unmatched_clips
from lockit_provider.operators.lockit import (
    DEFAULT_CONN_ID,
    LockitHookMixin,
    ShootingDayClipsMixin,
    default_deferrable,
)
from lockit_provider.triggers.checks import Check, check_path, judge

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class LockitBaseSensor(LockitHookMixin, BaseSensorOperator, abc.ABC):
    """Poke with the sync hook; when deferrable and not done at once, wait in a trigger instead.

    A transient failure (outage, rate limit, token endpoint hiccup that outlasted the hook's retries)
    counts as "not yet"; any other error fails the poke.
    """

    def __init__(
        self, *, lockit_conn_id: str = DEFAULT_CONN_ID, deferrable: bool | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.lockit_conn_id = lockit_conn_id
        self.deferrable = default_deferrable(deferrable)

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
        """Check once; a transient failure means "not yet"."""
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
        result = self.poke(context)
        if result:
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        trigger = self.trigger()
        remaining = max(0.0, self.timeout - (time.monotonic() - started))
        self.log.info("Not done yet; deferring to the triggerer for at most %.0f s", remaining)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=remaining))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return its XCom value, or fail clearly on an error event."""
        from lockit_provider.triggers.events import event_payload

        try:
            return event_payload(event).get("xcom_value")
        except LockitError as err:
            if self.soft_fail:
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"soft_fail: {type(err).__name__}: {err}") from err
            raise fail_fast(err) from err


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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.query = query
        self.headers = headers
        self.response_check = response_check
        self.pending_statuses = tuple(pending_statuses)

    def check(self, context: Context) -> bool | PokeReturnValue:
        """Call the endpoint once and judge the answer."""
        try:
            body = self.hook.get_json("GET", self.endpoint, params=self.query, headers=self.headers)
        except LockitApiError as err:
            if err.status in self.pending_statuses:
                self.log.info("%s answered HTTP %s: not yet", self.endpoint, err.status)
                return False
            raise
        done, xcom_value = judge(self.response_check, body, context)
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


class LockitClipsMatchedSensor(ShootingDayClipsMixin, LockitBaseSensor):
    """Wait until every given clip has take metadata on a shooting day (dailies: the supervisor synced).

    Returns ``{"project_id", "day_id", "clips"}`` so a downstream task can match without looking the
    project and day up again. Arguments as for
    :class:`~lockit_provider.operators.lockit.LockitMatchClipsOperator`.
    """

    template_fields: Sequence[str] = ("lockit_conn_id", "project", "shooting_day", "clips", "clips_file")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._target: dict[str, Any] | None = None

    def target(self) -> dict[str, Any]:
        """Return the project id, day id and clip names (looked up once per task run)."""
        if self._target is None:
            project, day, names = self.resolve_clips()
            self._target = {"project_id": project["uuid"], "day_id": day["uuid"], "clips": names}
        return self._target

    def check(self, context: Context) -> bool | PokeReturnValue:
        """Match the clips once; done when none is missing."""
        target = self.target()
        matches = self.hook.match_clips(target["project_id"], target["day_id"], target["clips"])
        missing = unmatched_clips(target["clips"], matches)
        if missing:
            matched = len(target["clips"]) - len(missing)
            self.log.info(
                "%d of %d clips have take metadata; waiting for %s",
                matched,
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
