"""Helpers for the sandbox tests: an OAuth client (requests-oauthlib) pointed at a running sandbox."""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth2Session

from lockit_provider.sandbox import Sandbox, clips, state
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI


class SandboxClient:
    """Drive a sandbox the way a client application would."""

    def __init__(self, sandbox: Sandbox, secret: str = CLIENT_SECRET) -> None:
        self.sandbox = sandbox
        self.secret = secret
        self.http = requests.Session()

    @staticmethod
    def location_params(response: requests.Response) -> dict[str, str]:
        """Return the query parameters of a redirect's Location (one value each)."""
        assert response.status_code == 302, response.text
        query = urlsplit(response.headers["Location"]).query
        return {name: values[0] for name, values in parse_qs(query).items()}

    def oauth_session(self, pkce: str | None = None, redirect_uri: str = REDIRECT_URI) -> OAuth2Session:
        return OAuth2Session(CLIENT_ID, redirect_uri=redirect_uri, pkce=pkce)

    def authorize(self, session: OAuth2Session, **extra: str) -> requests.Response:
        """Open the authorization URL without following the redirect to the client."""
        url, _ = session.authorization_url(self.sandbox.authorize_url, **extra)
        return self.http.get(url, allow_redirects=False)

    def code(self, session: OAuth2Session | None = None) -> str:
        """Return a fresh authorization code (the sandbox must auto-approve)."""
        params = self.location_params(self.authorize(session or self.oauth_session()))
        return params["code"]

    def fetch_token(self, session: OAuth2Session, location: str) -> dict[str, Any]:
        """Exchange the code in a redirect Location with HTTP Basic client auth."""
        return dict(
            session.fetch_token(
                self.sandbox.token_url, authorization_response=location, client_secret=self.secret
            )
        )

    def tokens(self) -> dict[str, Any]:
        """Run the whole authorization code flow and return the token response."""
        session = self.oauth_session()
        response = self.authorize(session)
        return self.fetch_token(session, response.headers["Location"])

    def token_request(self, data: dict[str, str], auth: Any = None) -> requests.Response:
        """POST a raw token request (HTTP Basic with the configured secret unless ``auth`` is given)."""
        return self.http.post(self.sandbox.token_url, data=data, auth=auth or (CLIENT_ID, self.secret))

    def exchange(self, code: str, redirect_uri: str = REDIRECT_URI, **extra: str) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
        return self.token_request(data)

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def api(
        self,
        path: str,
        token: str | None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(
            method, self.sandbox.url + path, headers={**auth, **(headers or {})}, **kwargs
        )


@pytest.fixture(autouse=True)
def _plain_http_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests drive the sandbox with a vanilla requests-oauthlib client, whose https check only
    # an environment switch lifts; for this test only, let it accept http to loopback hosts.
    import oauthlib.oauth2.rfc6749.clients.base as client_base
    import oauthlib.oauth2.rfc6749.parameters as parameters
    import requests_oauthlib.oauth2_session as oauth2_session

    from lockit_provider.oauth.client import is_allowed_transport

    for module in (client_base, parameters, oauth2_session):
        monkeypatch.setattr(module, "is_secure_transport", is_allowed_transport)


class SandboxClock:
    """The in-process sandbox's monotonic clock, frozen; the test moves it.

    Expiries, grace periods and delayed clips are then decided by the time the test says has passed,
    not by how fast a busy machine gets from one request to the next.
    """

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        """Return the frozen time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the sandbox."""
        self.now += seconds


@pytest.fixture
def sandbox_clock(monkeypatch: pytest.MonkeyPatch) -> SandboxClock:
    """Freeze the clock of in-process sandboxes (request it before anything issues tokens)."""
    clock = SandboxClock()
    frozen = types.SimpleNamespace(monotonic=clock.monotonic)
    for module in (state, clips):
        monkeypatch.setattr(module, "time", frozen)
    return clock


@pytest.fixture
def client_for() -> Iterator[Callable[..., SandboxClient]]:
    """Return a factory of clients for a given sandbox; their HTTP sessions close at teardown."""
    clients: list[SandboxClient] = []

    def make(sandbox: Sandbox, secret: str = CLIENT_SECRET) -> SandboxClient:
        clients.append(SandboxClient(sandbox, secret))
        return clients[-1]

    yield make
    for client in clients:
        client.http.close()


@pytest.fixture
def client(sandbox: Sandbox, client_for: Callable[..., SandboxClient]) -> SandboxClient:
    """Return a client of the default (auto-approving) sandbox."""
    return client_for(sandbox)
