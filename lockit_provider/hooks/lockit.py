"""LockitHook: authorized calls to the LockitNetwork API from Airflow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from lockit_provider import CONN_TYPE
from lockit_provider.exceptions import LockitApiError, as_lockit_error
from lockit_provider.hooks.bearer_auth import RefreshingBearerAuth
from lockit_provider.oauth.errors import OAuthError
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.settings import LockitSettings, settings_from_connection
from lockit_provider.tokens.refresher_factory import build_refresher

_EXCERPT_CHARS = 200


class LockitHook(BaseHook):
    """Call the LockitNetwork API with an OAuth access token that is refreshed and persisted safely.

    The Connection is read once per hook instance and one ``requests.Session`` is reused for every call.

    :param lockit_conn_id: Connection id of a ``lockit`` connection.
    """

    conn_name_attr = "lockit_conn_id"
    default_conn_name = "lockit_default"
    conn_type = CONN_TYPE
    hook_name = "LockitNetwork"

    def __init__(self, lockit_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.lockit_conn_id = lockit_conn_id

    @cached_property
    def settings(self) -> LockitSettings:
        """Return the validated settings of the connection (read once)."""
        conn = self.get_connection(self.lockit_conn_id)
        with self._lockit_errors():
            return settings_from_connection(conn)

    @cached_property
    def refresher(self) -> Refresher:
        """Return the single-flight refresher for this connection's token store."""
        with self._lockit_errors():
            return build_refresher(self.settings)

    def get_access_token(self) -> str:
        """Return a valid access token, refreshing (and persisting) it first when needed."""
        with self._lockit_errors():
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
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one authorized request and return the response; non-2xx raises LockitApiError."""
        with self._lockit_errors():
            response = self.get_conn().request(
                method.upper(),
                self.url_for(endpoint),
                params=params,
                json=json,
                headers=headers,
                timeout=self.settings.timeout,
            )
        if not response.ok:
            raise api_error(method, endpoint, response)
        return response

    def get_projects(self) -> list[dict[str, Any]]:
        """Return every project the authorized user can see."""
        result: list[dict[str, Any]] = self.request("GET", "/projects").json()
        return result

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
            return False, str(api_error("GET", "/projects", response))
        return True, f"Connected: {len(response.json())} project(s) visible."

    @contextmanager
    def _lockit_errors(self) -> Iterator[None]:
        """Re-raise OAuth-core errors as the provider's Airflow-facing error family."""
        try:
            yield
        except OAuthError as err:
            raise as_lockit_error(err, conn_id=self.lockit_conn_id) from err


def api_error(method: str, endpoint: str, response: requests.Response) -> LockitApiError:
    """Build a LockitApiError with the status and a short, token-free excerpt of the body."""
    excerpt = " ".join(response.text[:_EXCERPT_CHARS].split())
    return LockitApiError(
        f"LockitNetwork API {method.upper()} {endpoint} failed with HTTP {response.status_code}: {excerpt}",
        status=response.status_code,
        body_excerpt=excerpt,
    )
