"""Operators for the LockitNetwork API: any call (``LockitOperator``) and clip matching for dailies.

DAG files import this module at parse time, so it stays light: hooks (requests, httpx) and triggers
are imported when a task runs, and no operator touches the network before ``execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from lockit_provider.exceptions import LockitError
from lockit_provider.hooks.resources import JsonObject, preview_names, unmatched_clips
from lockit_provider.operators.clip_names import clip_names
from lockit_provider.operators.editorial_csv import editorial_csv
from lockit_provider.operators.output import (
    DEFAULT_MAX_XCOM_BYTES,
    PathLike,
    ensure_fits_xcom,
    write_chunks,
)
from lockit_provider.triggers.checks import call_with_context

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockit_provider.hooks.lockit import LockitHook

DEFAULT_CONN_ID = "lockit_default"
STREAM_CHUNK = 256 * 1024


def default_deferrable(deferrable: bool | None) -> bool:
    """Return ``deferrable``, or the ``[operators] default_deferrable`` setting when it is None."""
    if deferrable is not None:
        return deferrable
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class LockitHookMixin:
    """Give an operator a ``hook`` built on first use (never while the DAG file is parsed)."""

    lockit_conn_id: str

    @cached_property
    def hook(self) -> LockitHook:
        """Return the task's LockitHook."""
        from lockit_provider.hooks.lockit import LockitHook

        return LockitHook(self.lockit_conn_id)


class ShootingDayClipsMixin(LockitHookMixin):
    """Take the clips of one shooting day as the match operator and the clips sensor do."""

    def __init__(
        self,
        *,
        project: str,
        shooting_day: str,
        clips: Any = None,
        clips_file: PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.shooting_day = shooting_day
        self.clips = clips
        self.clips_file = clips_file

    def resolve_clips(self) -> tuple[JsonObject, JsonObject, list[str]]:
        """Return the project, its shooting day (found by id, name or date) and the clip names."""
        project, day = self.hook.resolve_shooting_day(self.project, self.shooting_day)
        return project, day, clip_names(self.clips, self.clips_file)


class LockitOperator(LockitHookMixin, BaseOperator):
    """Call any LockitNetwork API endpoint and push the JSON result to XCom, or stream it to a file.

    ``response_check`` and ``response_filter`` receive the decoded JSON body first, then any context
    values they name (``ti``, ``params``, ...), in the task also after a deferral.

    :param endpoint: Path below the API base URL, e.g. ``/projects`` (templated).
    :param method: HTTP method (templated).
    :param query: Query parameters (templated).
    :param body: JSON request body (templated).
    :param headers: Extra request headers (templated); the bearer token is added by the hook.
    :param response_check: Return False to fail the task.
    :param response_filter: Turn the body into the value pushed to XCom.
    :param output_path: Stream the raw body here instead of XCom: a local path or an object storage
        URL/``ObjectStoragePath`` (templated); the task returns the path.
    :param max_xcom_bytes: Refuse results whose JSON is larger (use ``output_path`` for those).
    :param retry_non_idempotent: Retry a POST/PATCH on 5xx and broken connections too (only when
        repeating the call is harmless).
    :param lockit_conn_id: The ``lockit`` connection (templated).
    :param deferrable: Make the call from the triggerer, freeing the worker slot while it waits
        (retries with ``Retry-After`` included). Default: ``[operators] default_deferrable``.
        Not used with ``output_path``, which streams in the worker.
    """

    template_fields: Sequence[str] = (
        "lockit_conn_id",
        "endpoint",
        "method",
        "query",
        "body",
        "headers",
        "output_path",
    )
    template_fields_renderers = {"body": "json", "query": "json", "headers": "json"}

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        output_path: PathLike | None = None,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        retry_non_idempotent: bool = False,
        lockit_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_path is not None and (response_check or response_filter):
            raise ValueError(
                "output_path streams the body to a file without reading it: response_check and "
                "response_filter cannot be used with it."
            )
        self.endpoint = endpoint
        self.method = method
        self.query = query
        self.body = body
        self.headers = headers
        self.response_check = response_check
        self.response_filter = response_filter
        self.output_path = output_path
        self.max_xcom_bytes = max_xcom_bytes
        self.retry_non_idempotent = retry_non_idempotent
        self.lockit_conn_id = lockit_conn_id
        self.deferrable = default_deferrable(deferrable)

    def execute(self, context: Context) -> Any:
        """Call the endpoint (or defer the call), then check, filter and return the result."""
        if self.output_path:
            return self._download()
        if self.deferrable:
            from lockit_provider.triggers.lockit import LockitRequestTrigger

            self.defer(
                trigger=LockitRequestTrigger(
                    lockit_conn_id=self.lockit_conn_id,
                    method=self.method,
                    endpoint=self.endpoint,
                    max_bytes=self.max_xcom_bytes,
                    query=self.query,
                    body=self.body,
                    headers=self.headers,
                    retry_non_idempotent=self.retry_non_idempotent,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        return self._result(self.hook.get_json(self.method, self.endpoint, **self._request_args()), context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: fail clearly on an error event, else finish like ``execute``."""
        from lockit_provider.triggers.events import event_payload

        return self._result(event_payload(event)["body"], context)

    def _request_args(self) -> dict[str, Any]:
        return {
            "params": self.query,
            "json": self.body,
            "headers": self.headers,
            "retry_non_idempotent": self.retry_non_idempotent,
        }

    def _result(self, body: Any, context: Context) -> Any:
        what = f"{self.method} {self.endpoint}"
        if self.response_check is not None and not call_with_context(self.response_check, body, context):
            raise LockitError(f"response_check rejected the answer to {what}.")
        result = call_with_context(self.response_filter, body, context) if self.response_filter else body
        if self.do_xcom_push:
            ensure_fits_xcom(result, self.max_xcom_bytes, what)
        return result

    def _download(self) -> str:
        assert self.output_path is not None
        if self.deferrable:
            self.log.info("Streaming to output_path happens in the worker; the call is not deferred.")
        with self.hook.request(self.method, self.endpoint, stream=True, **self._request_args()) as response:
            written = write_chunks(self.output_path, response.iter_content(STREAM_CHUNK))
        self.log.info(
            "Wrote %d bytes from %s %s to %s", written, self.method, self.endpoint, self.output_path
        )
        return str(self.output_path)


class LockitMatchClipsOperator(ShootingDayClipsMixin, BaseOperator):
    """Match camera clip names against a shooting day's takes; optionally write an editorial CSV.

    Returns ``{"project_id", "day_id", "matched": [take metadata...], "unmatched": [clip names]}``:
    clips without a match are reported (logged and returned), never silently dropped.

    :param project: Project id, or name (templated).
    :param shooting_day: Shooting day id, or date ``YYYY-MM-DD`` (templated).
    :param clips: Clip file names: a list, an upstream task's ``.output``, or templated text (a
        rendered list, or names separated by commas or new lines).
    :param clips_file: A file (local path or object storage URL) listing one clip name per line (templated).
    :param csv_path: Write the matched takes as CSV here for the editor (templated); see
        :mod:`lockit_provider.operators.editorial_csv` for the columns.
    :param fail_on_unmatched: Fail the task (after writing the CSV) when any clip did not match.
    :param max_xcom_bytes: Refuse results whose JSON is larger.
    :param lockit_conn_id: The ``lockit`` connection (templated).
    """

    template_fields: Sequence[str] = (
        "lockit_conn_id",
        "project",
        "shooting_day",
        "clips",
        "clips_file",
        "csv_path",
    )

    def __init__(
        self,
        *,
        csv_path: PathLike | None = None,
        fail_on_unmatched: bool = False,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        lockit_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.csv_path = csv_path
        self.fail_on_unmatched = fail_on_unmatched
        self.max_xcom_bytes = max_xcom_bytes
        self.lockit_conn_id = lockit_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Match the clips, report the ones that did not match, write the CSV and return the result."""
        project, day, names = self.resolve_clips()
        matches = self.hook.match_clips(project["uuid"], day["uuid"], names)
        unmatched = unmatched_clips(names, matches)
        self.log.info(
            "%d of %d clips matched on %s, %s", len(matches), len(names), project["name"], day["uuid"]
        )
        if unmatched:
            self.log.warning(
                "%d clips have no take metadata yet: %s", len(unmatched), preview_names(unmatched)
            )
        if self.csv_path:
            written = write_chunks(self.csv_path, [editorial_csv(matches)])
            self.log.info("Wrote %d rows (%d bytes) to %s", len(matches), written, self.csv_path)
        if unmatched and self.fail_on_unmatched:
            raise LockitError(
                f"{len(unmatched)} of {len(names)} clips did not match: {preview_names(unmatched, 20)}"
            )
        result = {
            "project_id": project["uuid"],
            "day_id": day["uuid"],
            "matched": matches,
            "unmatched": unmatched,
        }
        ensure_fits_xcom(result, self.max_xcom_bytes, "the clip match")
        return result
