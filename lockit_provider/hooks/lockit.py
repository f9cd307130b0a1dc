"""LockitHook (requests) and LockitAsyncHook (httpx): authorized, retried calls to the LockitNetwork API.

Both read the Connection once per hook, reuse one HTTP session, take tokens from the same single-flight
refresher and follow one retry policy (:mod:`lockit_provider.http.retry`); they differ only in I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
import requests
from airflow.sdk import BaseHook
from urllib3.exceptions import NewConnectionError

from lockit_provider import CONN_TYPE
from lockit_provider.exceptions import LockitApiError
from lockit_provider.hooks import resources
from lockit_provider.hooks.bearer_auth import RefreshingBearerAsyncAuth, RefreshingBearerAuth
from lockit_provider.hooks.errors import api_error, decode_json, log_retry, unreachable_error
from lockit_provider.hooks.resources import JsonObject
from lockit_provider.http.retry import Failure, RetryPolicy, RetryState
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import TokenStore
from lockit_provider.redaction import redact_http_library_logs
from lockit_provider.settings import ConnectionLike, LockitSettings, settings_from_connection
from lockit_provider.tokens.refresher_factory import build_refresher

if TYPE_CHECKING:
    from collections.abc import Mapping

# urllib3 (at DEBUG) and httpx (at INFO) log request URLs: scrub token values from them too.
redact_http_library_logs()


class LockitHookBase(BaseHook):
    """What both hooks take: a ``lockit`` connection, and optionally a token store and retry policy.

    :param lockit_conn_id: Connection id of a ``lockit`` connection.
    :param token_store: Where the live token record lives; default: the connection's Airflow Variable.
    :param retry_policy: Overrides the retry policy of the connection's extras.
    """

    conn_name_attr = "lockit_conn_id"
    default_conn_name = "lockit_default"
    conn_type = CONN_TYPE
    hook_name = "LockitNetwork"

    def __init__(
        self,
        lockit_conn_id: str = default_conn_name,
        *,
        token_store: TokenStore | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.lockit_conn_id = lockit_conn_id
        self._token_store = token_store
        self._retry_policy = retry_policy

    def _http_options(self, connection: ConnectionLike, settings: LockitSettings) -> LockitSettings:
        # Timeouts and retry policy are parsed with the rest of the connection (settings_from_connection).
        if self._retry_policy is None:
            return settings
        return dataclasses.replace(settings, retry=self._retry_policy)


class LockitHook(LockitHookBase):
    """Call the LockitNetwork API with an OAuth access token that is refreshed and persisted safely.

    The Connection is read once per hook instance and one ``requests.Session`` is reused for every call.
    Transient failures (429, 502, 503, 504, connection errors) are retried with backoff and jitter,
    honouring ``Retry-After``; see :class:`~lockit_provider.http.retry.RetryPolicy`.
    """

    @cached_property
    def connection(self) -> ConnectionLike:
        """Return the Airflow Connection (read once)."""
        return self.get_connection(self.lockit_conn_id)

    @cached_property
    def settings(self) -> LockitSettings:
        """Return the validated settings of the connection (read once)."""
        return settings_from_connection(self.connection)

    @cached_property
    def http_options(self) -> LockitSettings:
        """Return the timeouts and retry policy of the connection."""
        return self._http_options(self.connection, self.settings)

    @cached_property
    def refresher(self) -> Refresher:
        """Return the single-flight refresher for this connection's token store."""
        return build_refresher(self.settings, store=self._token_store)

    def get_access_token(self) -> str:
        """Return a valid access token, refreshing (and persisting) it first when needed."""
        return self.refresher.access_token()

    def get_conn(self) -> requests.Session:
        """Return the hook's session; its auth sends the bearer token and refreshes once on a 401."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.auth = RefreshingBearerAuth(self.refresher)
        session.verify = self.settings.verify
        session.headers["Accept"] = "application/json"
        return session

    def url_for(self, endpoint: str) -> str:
        """Join an endpoint path such as ``/projects`` to the API base URL."""
        return f"{self.settings.api_url}/{endpoint.lstrip('/')}"

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        retry_non_idempotent: bool = False,
    ) -> requests.Response:
        """Send one authorized request, retrying transient failures; non-2xx raises LockitApiError.

        A non-idempotent method (POST, PATCH) is retried only on 429 or when the request never left,
        unless ``retry_non_idempotent`` says the call is safe to repeat.
        """
        method = method.upper()
        options = self.http_options
        state = options.retry.start(method, retry_non_idempotent=retry_non_idempotent)
        session, url = self.get_conn(), self.url_for(endpoint)
        while True:
            try:
                response = session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=options.timeouts,
                    stream=stream,
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                wait = state.after_failure(_requests_failure(err))
                if wait is None:
                    raise unreachable_error(method, endpoint, self.settings.api_url, err, state) from err
                outcome = type(err).__name__
            else:
                wait = state.after_status(response.status_code, response.headers.get("Retry-After"))
                if wait is None:
                    break
                outcome = f"HTTP {response.status_code}"
                response.close()
            log_retry(self, method, endpoint, outcome, state, wait)
            time.sleep(wait)
        if not response.ok:
            raise _refused(method, endpoint, response, self.settings, state)
        return response

    def get_json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request (as :meth:`request`) and return its decoded JSON body (None when empty)."""
        response = self.request(method, endpoint, **kwargs)
        return decode_json(response.content, method, endpoint, response.status_code)

    def get_projects(self) -> list[JsonObject]:
        """Return every project the authorized user can see."""
        result: list[JsonObject] = self.get_json("GET", resources.PROJECTS)
        return result

    def get_project_days(self, project_id: str) -> list[JsonObject]:
        """Return the shooting days of a project."""
        result: list[JsonObject] = self.get_json("GET", resources.project_days_path(project_id))
        return result

    def match_clips(self, project_id: str, day_id: str, clips: Sequence[str]) -> list[JsonObject]:
        """Return the take metadata of the clips that match on a shooting day (others are absent).

        Matching only reads, so the POST is retried like a GET.
        """
        if not clips:
            return []
        path = resources.match_clips_path(project_id, day_id)
        result: list[JsonObject] = self.get_json(
            "POST", path, json={"clips": list(clips)}, retry_non_idempotent=True
        )
        return result

    def get_episodes(self, project_id: str) -> list[JsonObject]:
        """Return the episodes of a project (a feature film has none)."""
        result: list[JsonObject] = self.get_json("GET", resources.episodes_path(project_id))
        return result

    def get_episode(self, project_id: str, episode_id: str) -> JsonObject:
        """Return one episode."""
        result: JsonObject = self.get_json("GET", resources.episodes_path(project_id, episode_id))
        return result

    def get_episode_scenes(self, project_id: str, episode_id: str) -> list[JsonObject]:
        """Return the scenes of an episode."""
        result: list[JsonObject] = self.get_json("GET", resources.episode_scenes_path(project_id, episode_id))
        return result

    def get_scene(self, project_id: str, scene_id: str) -> JsonObject:
        """Return one scene."""
        result: JsonObject = self.get_json("GET", resources.scene_path(project_id, scene_id))
        return result

    def find_project(self, project: str) -> JsonObject:
        """Return the project with this id, or this name (case-insensitive)."""
        return resources.pick_project(self.get_projects(), project)

    def find_project_day(self, project_id: str, day: Any) -> JsonObject:
        """Return the shooting day with this id, or on this date (``YYYY-MM-DD`` or a date)."""
        return resources.pick_project_day(self.get_project_days(project_id), day)

    def resolve_shooting_day(self, project: str, day: Any) -> tuple[JsonObject, JsonObject]:
        """Return the project (id or name) and its shooting day (id or date)."""
        found = self.find_project(project)
        return found, self.find_project_day(found["uuid"], day)

    def refresh_token_early(self, within: float) -> dict[str, Any]:
        """Refresh the token now if it expires within ``within`` seconds; return a token-free summary.

        A sibling that refreshed first is reused, as after a 401.
        """
        record = self.refresher.get_record()
        refreshed = record.expires_within(within, time.time())
        if refreshed:
            record = self.refresher.refresh(rejected_access_token=record.access_token)
        return {"refreshed": refreshed, "generation": record.generation, "expires_at": record.expires_at}

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with ``GET /projects`` without refreshing or persisting anything.

        The UI runs this in the API server under a random, transient conn id: spending a refresh token
        there would lose the rotated one, so only an access token the connection already holds is used.
        """
        try:
            settings = self.settings
        except Exception as err:
            return False, str(err)
        token = settings.bootstrap.access_token
        if not token:
            return False, (
                f"Connection settings are valid, but it holds no access token yet: run `airflow lockit "
                f"authorize --conn-id <your conn id>` (for this form: {settings.reauth_command})."
            )
        try:
            response = requests.get(
                self.url_for("/projects"),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=settings.timeout,
                verify=settings.verify,
            )
        except requests.RequestException as err:
            return False, f"Could not reach {settings.api_url}: {err.__class__.__name__}"
        if response.status_code == 401:
            return False, (
                "The stored access token was rejected (expired or revoked). Tasks refresh it on first use; "
                "`airflow lockit status` shows the live record."
            )
        if not response.ok:
            error = api_error("GET", "/projects", response.status_code, response.text, secrets=[token])
            return False, str(error)
        return True, f"Connected: {len(response.json())} project(s) visible."


class LockitAsyncHook(LockitHookBase):
    """The async twin of :class:`LockitHook` for triggers, on one ``httpx.AsyncClient`` per hook.

    The Connection is read once (``aget_connection``); the refresher, which blocks on locks and the
    token store, always runs on a worker thread, so the event loop never waits for a refresh.
    Call :meth:`aclose` when done.
    """

    def __init__(self, lockit_conn_id: str = LockitHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(lockit_conn_id, **kwargs)
        self._setup = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._settings: LockitSettings | None = None
        self._options: LockitSettings | None = None

    async def get_conn(self) -> httpx.AsyncClient:
        """Return the hook's client, reading the connection and building the refresher on first use."""
        async with self._setup:
            if self._client is None:
                self._client = await self._new_client()
        return self._client

    async def _new_client(self) -> httpx.AsyncClient:
        connection = await self.aget_connection(self.lockit_conn_id)
        settings = settings_from_connection(connection)
        options = self._http_options(connection, settings)
        refresher = await asyncio.to_thread(build_refresher, settings, store=self._token_store)
        self._settings, self._options = settings, options
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle:
            verify = ssl.create_default_context(cafile=settings.ca_bundle)
        return httpx.AsyncClient(
            auth=RefreshingBearerAsyncAuth(refresher),
            verify=verify,
            timeout=httpx.Timeout(options.read_timeout, connect=options.connect_timeout),
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the client and its connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_non_idempotent: bool = False,
    ) -> httpx.Response:
        """Send one authorized request, retrying as :meth:`LockitHook.request` does; return the 2xx."""
        method = method.upper()
        client = await self.get_conn()
        assert self._settings is not None and self._options is not None
        settings, options = self._settings, self._options
        state = options.retry.start(method, retry_non_idempotent=retry_non_idempotent)
        url = f"{settings.api_url}/{endpoint.lstrip('/')}"
        while True:
            try:
                response = await client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as err:
                wait = state.after_failure(_httpx_failure(err))
                if wait is None:
                    raise unreachable_error(method, endpoint, settings.api_url, err, state) from err
                outcome = type(err).__name__
            else:
                wait = state.after_status(response.status_code, response.headers.get("Retry-After"))
                if wait is None:
                    break
                outcome = f"HTTP {response.status_code}"
            log_retry(self, method, endpoint, outcome, state, wait)
            await asyncio.sleep(wait)
        if not response.is_success:
            raise _refused(method, endpoint, response, settings, state)
        return response

    async def get_json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request (as :meth:`request`) and return its decoded JSON body (None when empty)."""
        response = await self.request(method, endpoint, **kwargs)
        return decode_json(response.content, method, endpoint, response.status_code)

    async def get_projects(self) -> list[JsonObject]:
        """Return every project the authorized user can see."""
        result: list[JsonObject] = await self.get_json("GET", resources.PROJECTS)
        return result

    async def match_clips(self, project_id: str, day_id: str, clips: Sequence[str]) -> list[JsonObject]:
        """Return the take metadata of the clips that match on a shooting day (others are absent)."""
        if not clips:
            return []
        path = resources.match_clips_path(project_id, day_id)
        result: list[JsonObject] = await self.get_json(
            "POST", path, json={"clips": list(clips)}, retry_non_idempotent=True
        )
        return result


def _requests_failure(error: requests.RequestException) -> Failure:
    """Tell a request that never left (connect failed) from one that may have reached the server."""
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    if isinstance(error, requests.ConnectTimeout) or isinstance(reason, NewConnectionError):
        return Failure.CONNECT
    return Failure.TRANSPORT


def _httpx_failure(error: httpx.TransportError) -> Failure:
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.CONNECT
    if isinstance(error, (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)):
        return Failure.TRANSPORT
    raise error  # a proxy or protocol misconfiguration: retrying cannot help


def _refused(
    method: str,
    endpoint: str,
    response: requests.Response | httpx.Response,
    settings: LockitSettings,
    state: RetryState,
) -> LockitApiError:
    """Build the error for a non-2xx answer, scrubbing the token it was sent with from the excerpt."""
    sent = (response.request.headers.get("Authorization") or "").partition(" ")[2]
    return api_error(
        method,
        endpoint,
        response.status_code,
        response.text,
        secrets=(sent, settings.bootstrap.access_token, settings.bootstrap.refresh_token),
        note=state.stop_reason,
    )
