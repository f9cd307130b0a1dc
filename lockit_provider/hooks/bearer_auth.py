"""Auth for requests and httpx that sends the bearer token and, after a 401, resends it once.

Both read a token the refresher holds in memory inline (no lock, no I/O). After a 401 they first look
whether the rejected token was already replaced (a sibling refreshed meanwhile): then the request is
resent with the current token and nothing is refreshed. Only otherwise do they ask the refresher to
refresh, which reuses a record a sibling stored and spends the refresh token at most once.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import requests
from requests.auth import AuthBase

from lockit_provider.hooks import single_flight
from lockit_provider.oauth.refresher import Refresher


def replacement_token(refresher: Refresher, rejected: str | None) -> str | None:
    """Return the token to resend a request with after ``rejected`` got a 401, if one is held already."""
    current = refresher.cached_token()
    return current if current is not None and current != rejected else None


class RefreshingBearerAuth(AuthBase):
    """Put ``Authorization: Bearer`` on each request; on a 401 get a new token once and resend."""

    def __init__(self, refresher: Refresher) -> None:
        self._refresher = refresher

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the current access token and the retry-on-401 hook."""
        token = self._refresher.cached_token() or self._refresher.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._retry_on_401)
        # The token used is remembered on the request so the retry can tell the refresher which
        # token was rejected (a sibling may already have replaced it).
        request._lockit_token = token  # type: ignore[attr-defined]
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, "_lockit_retried", False):
            return response
        if request.body is not None and hasattr(request.body, "read"):
            return response  # a streamed body cannot be sent twice
        rejected = getattr(request, "_lockit_token", None)
        token = replacement_token(self._refresher, rejected)
        if token is None:
            token = self._refresher.refresh(rejected_access_token=rejected).access_token
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry._lockit_retried = True  # type: ignore[attr-defined]
        retry._lockit_token = token  # type: ignore[attr-defined]
        retry.deregister_hook("response", self._retry_on_401)
        connection: Any = response.connection
        new_response: requests.Response = connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


class RefreshingBearerAsyncAuth(httpx.Auth):
    """The same for httpx: only a refresh (locks, store I/O) goes to a worker thread.

    Coroutines of one loop that need a new token at the same moment share one thread hop.
    """

    def __init__(self, refresher: Refresher) -> None:
        self._refresher = refresher

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send the request with the current token; after a 401, resend it once with a new one."""
        refresher = self._refresher
        token = refresher.cached_token()
        if token is None:
            token = await single_flight.once((id(refresher), "token"), refresher.access_token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            new_token = replacement_token(refresher, token)
            if new_token is None:
                refresh = functools.partial(refresher.refresh, rejected_access_token=token)
                record = await single_flight.once((id(refresher), "refresh", hash(token)), refresh)
                new_token = record.access_token
            request.headers["Authorization"] = f"Bearer {new_token}"
            yield request
