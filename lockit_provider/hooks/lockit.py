"""LockitHook (requests) and LockitAsyncHook (httpx): authorized, retried calls to the LockitNetwork API.

Both read the Connection once per hook, reuse one HTTP session, take tokens from the same single-flight
refresher and follow one retry policy (:mod:`lockit_provider.http.retry`); they differ only in I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
import weakref
from collections.abc import Collection, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
import requests
from airflow.sdk import BaseHook
from urllib3.exceptions import NewConnectionError

from lockit_provider import CONN_TYPE
from lockit_provider.hooks import resources, single_flight, transport
from lockit_provider.hooks.bearer_auth import RefreshingBearerAsyncAuth, RefreshingBearerAuth
from lockit_provider.hooks.call import ApiCall, response_size, sent_token
from lockit_provider.hooks.errors import api_error, decode_json
from lockit_provider.hooks.resources import JsonObject
from lockit_provider.http.deadline import Deadline, mount_deadline_adapters
from lockit_provider.http.retry import Failure, RetryPolicy
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import TokenStore
from lockit_provider.redaction import redact_http_library_logs
from lockit_provider.settings import ConnectionLike, LockitSettings, settings_from_connection
from lockit_provider.tokens.refresher_factory import shared_refresher

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
    #: Level of the one line each API call logs; a poller calling every few seconds may lower it.
    call_log_level = logging.INFO

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

    def _call(
        self,
        options: LockitSettings,
        method: str,
        endpoint: str,
        retry_non_idempotent: bool,
        log_response: bool,
        accept_statuses: Collection[int] = (),
    ) -> ApiCall:
        """Start the decisions of one call: retries, deadline, errors and its log line."""
        return ApiCall(
            self.log,
            options,
            options.retry,
            method,
            endpoint,
            retry_non_idempotent=retry_non_idempotent,
            log_level=self.call_log_level,
            log_response=log_response,
            accept_statuses=accept_statuses,
        )

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
        """Return this process's single-flight refresher for the connection (shared by every hook)."""
        return shared_refresher(self.settings, store=self._token_store)

    def get_access_token(self) -> str:
        """Return a valid access token, refreshing (and persisting) it first when needed."""
        return self.refresher.access_token()

    def get_conn(self) -> requests.Session:
        """Return the hook's session; its auth sends the bearer token and refreshes once on a 401."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        mount_deadline_adapters(session)  # a server that dribbles its answer cannot outlast the call
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
        log_response: bool = False,
        accept_statuses: Collection[int] = (),
    ) -> requests.Response:
        """Send one authorized request, retrying transient failures; non-2xx raises LockitApiError.

        A status in ``accept_statuses`` is returned instead (a sensor's "not yet", e.g. 404).

        A non-idempotent method (POST, PATCH) is retried only on 429 or when the request never left,
        unless ``retry_non_idempotent`` says the call is safe to repeat. Each call logs one line
        (method, endpoint, status, bytes, time, retries); ``log_response`` adds a token-free excerpt of
        the body.
        """
        options = self.http_options
        call = self._call(options, method, endpoint, retry_non_idempotent, log_response, accept_statuses)
        session = self.get_conn()
        while True:
            # No single read may outlast the call's deadline (requests has no total timeout).
            timeout = (options.connect_timeout, min(options.read_timeout, call.remaining()))
            try:
                # The watchdog ends an attempt still receiving when the call's deadline passes.
                with Deadline(call.remaining()).running() as deadline:
                    response = session.request(
                        call.method,
                        call.url,
                        params=params,
                        json=json,
                        headers=headers,
                        timeout=timeout,
                        stream=stream,
                        # Per request: a session's ``verify`` loses to REQUESTS_CA_BUNDLE in the environment.
                        verify=options.verify,
                    )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as err:
                if deadline.expired:
                    call.out_of_time()
                wait = call.after_error(err, _requests_failure(err))
            else:
                retry_in = call.after_answer(response.status_code, response.headers)
                if retry_in is None:
                    break
                wait = retry_in
                response.close()
            self._sleep(wait)
        content = None if stream else response.content
        call.finish(
            response.status_code,
            response_size(content, response.headers),
            sent_token(response.request.headers),
            lambda: response.text,
        )
        return response

    def _sleep(self, seconds: float) -> None:
        """Wait between attempts (tests replace it to see the waits chosen)."""
        time.sleep(seconds)

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

    Built for a triggerer running a thousand of them in one event loop: the Connection is read once
    (``aget_connection``); the refresher is the one this process keeps for the connection, and its SSL
    context is shared, so a new hook costs well under a millisecond on the loop. A token the refresher
    holds is read inline; only a refresh (locks, token store) runs on a worker thread, one hop for all
    the hooks of the loop that wait for it. Call :meth:`aclose` when done.
    """

    def __init__(self, lockit_conn_id: str = LockitHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(lockit_conn_id, **kwargs)
        self._setup = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._options: LockitSettings | None = None
        self._urls: dict[str, httpx.URL] = {}

    async def get_conn(self) -> httpx.AsyncClient:
        """Return the hook's client, reading the connection and finding the refresher on first use."""
        if self._client is None:
            async with self._setup:
                if self._client is None:
                    self._client = await self._new_client()
        return self._client

    async def _new_client(self) -> httpx.AsyncClient:
        # Hooks of one connection that start together (a triggerer starting hundreds of sensors) share
        # one read; each read goes through the triggerer's supervisor, one request at a time.
        conn_id = self.lockit_conn_id
        read = functools.partial(self.aget_connection, conn_id)
        connection = await single_flight.shared(("connection", conn_id), read)
        settings = _parsed_settings(connection)
        options = self._http_options(connection, settings)
        store = self._token_store
        # Blocking only the first time per process: built once on a thread for every hook waiting.
        refresher = _known_refreshers.get((settings, id(store)))
        if refresher is None:
            build = functools.partial(shared_refresher, settings, store=store)
            refresher = await single_flight.once(("refresher", settings, id(store)), build)
            _known_refreshers[(settings, id(store))] = refresher
        context = await transport.async_ssl_context(settings.ca_bundle)
        self._options = options
        timeout = httpx.Timeout(options.read_timeout, connect=options.connect_timeout)
        return transport.async_client(context, timeout, RefreshingBearerAsyncAuth(refresher))

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
        log_response: bool = False,
        accept_statuses: Collection[int] = (),
    ) -> httpx.Response:
        """Send one authorized request, retrying as :meth:`LockitHook.request` does; return the 2xx.

        A status in ``accept_statuses`` is returned instead (a sensor's "not yet", e.g. 404).

        The retry policy's ``deadline`` bounds the whole call: an attempt still waiting for a slow
        answer when it passes is cancelled.
        """
        client = await self.get_conn()
        assert self._options is not None
        call = self._call(
            self._options, method, endpoint, retry_non_idempotent, log_response, accept_statuses
        )
        while True:
            try:
                async with asyncio.timeout(call.remaining()):
                    response = await client.request(
                        call.method, self._url(call.url), params=params, json=json, headers=headers
                    )
                transport.release_stream(response)
            except httpx.TransportError as err:
                wait = call.after_error(err, _httpx_failure(err))
            except TimeoutError:
                call.out_of_time()
            else:
                retry_in = call.after_answer(response.status_code, response.headers)
                if retry_in is None:
                    break
                wait = retry_in
            await self._sleep(wait)
        call.finish(
            response.status_code,
            len(response.content),
            sent_token(response.request.headers),
            lambda: response.text,
        )
        return response

    def _url(self, url: str) -> httpx.URL:
        """Return the parsed URL; a poller asks for the same one every time (parsing costs ~50 us)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def _sleep(self, seconds: float) -> None:
        """Wait between attempts (tests replace it to see the waits chosen)."""
        await asyncio.sleep(seconds)

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


def _parsed_settings(connection: ConnectionLike) -> LockitSettings:
    """Return the connection's settings, parsed once per process for the same connection fields.

    A triggerer starts hundreds of sensors of one connection; a changed connection is parsed anew.
    """
    fields = ("conn_id", "host", "login", "password", "schema", "port", "extra")
    key = tuple(str(getattr(connection, name, None)) for name in fields)
    settings = _settings_memo.get(key)
    if settings is None:
        settings = settings_from_connection(connection)
        if len(_settings_memo) >= 64:
            _settings_memo.clear()
        _settings_memo[key] = settings
    return settings


_settings_memo: dict[tuple[str, ...], LockitSettings] = {}

# Refreshers this process already holds, by settings: found without a thread hop. Weak, so a refresher
# the factory dropped goes once no hook uses it.
_known_refreshers: weakref.WeakValueDictionary[tuple[LockitSettings, int], Refresher] = (
    weakref.WeakValueDictionary()
)


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
