"""Operators for the LockitNetwork API: any call (``LockitOperator``) and clip matching for dailies.

DAG files import this module at parse time, so it stays light: hooks (requests, httpx) and triggers
are imported when a task runs, and no operator touches the network before ``execute``. Every task
boundary fails fast (:func:`~lockit_provider.common.task_base.failing_fast`): an error retrying cannot
fix fails the task at once, whatever its ``retries``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from lockit_provider.common.clip_names import clip_names
from lockit_provider.common.matches import split_matches
from lockit_provider.common.output import (
    DEFAULT_MAX_XCOM_BYTES,
    PathLike,
    ensure_fits_xcom,
    write_chunks,
)
from lockit_provider.common.response import response_values, safe_headers
from lockit_provider.common.task_base import (
    DEFAULT_CONN_ID,
    LockitHookMixin,
    default_deferrable,
    failing_fast,
)
from lockit_provider.exceptions import LockitError
from lockit_provider.hooks.resources import JsonObject, preview_names
from lockit_provider.triggers.checks import call_with_context

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

STREAM_CHUNK = 256 * 1024


class LockitResponseCheckFailed(LockitError):
    """``response_check`` rejected the answer; retries apply (the data may be different later)."""

    retryable = True


class LockitUnmatchedClips(LockitError):
    """Some clips have no take yet (``fail_on_unmatched``); retries apply (the iPad may sync later)."""

    retryable = True

    def __init__(self, message: str, *, unmatched: list[str]) -> None:
        super().__init__(message)
        self.unmatched = unmatched


class LockitOperator(LockitHookMixin, BaseOperator):
    """Call any LockitNetwork API endpoint and push the JSON result to XCom, or stream it to a file.

    ``response_check`` and ``response_filter`` receive the decoded JSON body first, then any of
    ``status_code``, ``headers`` (the response's, without credential headers) and the context values
    (``ti``, ``params``, ...) they name, in the task also after a deferral.

    :param endpoint: Path below the API base URL, e.g. ``/projects`` (templated).
    :param method: HTTP method (templated).
    :param query: Query parameters (templated).
    :param body: JSON request body (templated).
    :param headers: Extra request headers (templated); the bearer token is added by the hook.
    :param response_check: Return False to fail the task (Airflow's retries apply).
    :param response_filter: Turn the body into the value pushed to XCom.
    :param log_response: Log a token-free excerpt of the response body with the call's log line (in
        the task log, or in the trigger's when deferred).
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
        log_response: bool = False,
        output_path: PathLike | None = None,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        retry_non_idempotent: bool = False,
        lockit_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_path is not None and (response_check or response_filter or log_response):
            raise ValueError(
                "output_path streams the body to a file without reading it: response_check, "
                "response_filter and log_response cannot be used with it."
            )
        self.endpoint = endpoint
        self.method = method
        self.query = query
        self.body = body
        self.headers = headers
        self.response_check = response_check
        self.response_filter = response_filter
        self.log_response = log_response
        self.output_path = output_path
        self.max_xcom_bytes = max_xcom_bytes
        self.retry_non_idempotent = retry_non_idempotent
        self.lockit_conn_id = lockit_conn_id
        self.deferrable = default_deferrable(deferrable)

    def execute(self, context: Context) -> Any:
        """Call the endpoint (or defer the call), then check, filter and return the result."""
        with failing_fast():
            if self.output_path:
                return self._download()
            if self.deferrable:
                self._defer()
            from lockit_provider.hooks.errors import decode_json

            response = self.hook.request(self.method, self.endpoint, **self._request_args())
            body = decode_json(response.content, self.method, self.endpoint, response.status_code)
            return self._result(body, response.status_code, safe_headers(response.headers), context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: fail clearly on an error event, else finish like ``execute``."""
        from lockit_provider.triggers.events import event_payload

        with failing_fast():
            payload = event_payload(event)
            return self._result(payload["body"], payload.get("http_status"), payload.get("headers"), context)

    def _defer(self) -> None:
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
                log_response=self.log_response,
            ),
            method_name="execute_complete",
            timeout=self.execution_timeout,
        )

    def _request_args(self) -> dict[str, Any]:
        return {
            "params": self.query,
            "json": self.body,
            "headers": self.headers,
            "retry_non_idempotent": self.retry_non_idempotent,
            "log_response": self.log_response,
        }

    def _result(
        self, body: Any, status: int | None, headers: Mapping[str, str] | None, context: Context
    ) -> Any:
        what = f"{self.method} {self.endpoint}"
        check_context = {**context, **response_values(status, headers)}
        if self.response_check is not None and not call_with_context(
            self.response_check, body, check_context
        ):
            raise LockitResponseCheckFailed(f"response_check rejected the answer to {what}.")
        result = (
            call_with_context(self.response_filter, body, check_context) if self.response_filter else body
        )
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


class LockitMatchClipsOperator(LockitHookMixin, BaseOperator):
    """Match camera clip names against a shooting day's takes; write the editor's CSV and/or ALE.

    Returns ``{"project_id", "day_id", "matched": [take metadata...], "unmatched": [clip names],
    "files": {"csv": path, "ale": path}}`` (only the files written). A clip without a take is listed
    in ``unmatched`` (and logged), never written as a row.

    :param project: Project id, or name (templated).
    :param shooting_day: Shooting day id, or date ``YYYY-MM-DD`` (templated).
    :param clips: Clip file names: a list, an upstream task's ``.output``, or templated text (a
        rendered list, or names separated by commas or new lines).
    :param clips_file: A file (local path or object storage URL) listing one clip name per line (templated).
    :param csv_path: Write the matched takes as CSV (Premiere, Resolve) here: a local path, an object
        storage URL or an ``ObjectStoragePath`` (templated); see
        :mod:`lockit_provider.operators.editorial_csv` for the columns.
    :param ale_path: Write them as an Avid Log Exchange file here (templated); see
        :mod:`lockit_provider.operators.editorial_ale`.
    :param ale_video_format: The ALE's ``VIDEO_FORMAT``; default: the project's, else ``1080``.
    :param ale_fps: The ALE's ``FPS``; default: the project's when it has one, else none is written.
    :param fail_on_unmatched: Fail the task (after writing the files) when any clip did not match.
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
        "ale_path",
    )

    def __init__(
        self,
        *,
        project: str,
        shooting_day: str,
        clips: Any = None,
        clips_file: PathLike | None = None,
        csv_path: PathLike | None = None,
        ale_path: PathLike | None = None,
        ale_video_format: str | None = None,
        ale_fps: str | float | None = None,
        fail_on_unmatched: bool = False,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        lockit_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.shooting_day = shooting_day
        self.clips = clips
        self.clips_file = clips_file
        self.csv_path = csv_path
        self.ale_path = ale_path
        self.ale_video_format = ale_video_format
        self.ale_fps = ale_fps
        self.fail_on_unmatched = fail_on_unmatched
        self.max_xcom_bytes = max_xcom_bytes
        self.lockit_conn_id = lockit_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Match the clips, report the ones without a take, write the files and return the result."""
        with failing_fast():
            names = clip_names(self.clips, self.clips_file)
            project, day = self.hook.resolve_shooting_day(self.project, self.shooting_day)
            matched, unmatched = split_matches(
                names, self.hook.match_clips(project["uuid"], day["uuid"], names)
            )
            self.log.info(
                "%d of %d clips matched on %s, %s", len(matched), len(names), project["name"], day["uuid"]
            )
            if unmatched:
                self.log.warning(
                    "%d clips have no take metadata yet: %s", len(unmatched), preview_names(unmatched)
                )
            files = self._write_editorial(matched, project, day)
            if unmatched and self.fail_on_unmatched:
                raise LockitUnmatchedClips(
                    f"{len(unmatched)} of {len(names)} clips did not match: {preview_names(unmatched, 20)}",
                    unmatched=unmatched,
                )
            result = {
                "project_id": project["uuid"],
                "day_id": day["uuid"],
                "matched": matched,
                "unmatched": unmatched,
                "files": files,
            }
            ensure_fits_xcom(result, self.max_xcom_bytes, "the clip match")
            return result

    def _write_editorial(
        self, matched: list[JsonObject], project: JsonObject, day: JsonObject
    ) -> dict[str, str]:
        """Write the CSV and the ALE that were asked for; return their paths by kind."""
        from lockit_provider.operators.editorial_ale import editorial_ale
        from lockit_provider.operators.editorial_csv import editorial_csv

        files: dict[str, str] = {}
        if self.csv_path:
            files["csv"] = self._write("CSV", self.csv_path, editorial_csv(matched), len(matched))
        if self.ale_path:
            ale = editorial_ale(
                matched, project=project, day=day, video_format=self.ale_video_format, fps=self.ale_fps
            )
            files["ale"] = self._write("ALE", self.ale_path, ale, len(matched))
        return files

    def _write(self, kind: str, path: PathLike, content: bytes, rows: int) -> str:
        written = write_chunks(path, [content])
        self.log.info("Wrote the %s: %d rows (%d bytes) to %s", kind, rows, written, path)
        return str(path)
