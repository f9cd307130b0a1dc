"""Auth for requests and httpx that sends the bearer token and refreshes once on a 401."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import requests
from requests.auth import AuthBase

from lockit_provider.oauth.refresher import Refresher


class RefreshingBearerAuth(AuthBase):
    """Put ``Authorization: Bearer`` on each request; on a 401 refresh once and resend."""

    def __init__(self, refresher: Refresher) -> None:
        self._refresher = refresher

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the current access token and the retry-on-401 hook."""
        token = self._refresher.access_token()
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
        record = self._refresher.refresh(rejected_access_token=rejected)
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = f"Bearer {record.access_token}"
        retry._lockit_retried = True  # type: ignore[attr-defined]
        retry._lockit_token = record.access_token  # type: ignore[attr-defined]
        retry.deregister_hook("response", self._retry_on_401)
        connection: Any = response.connection
        new_response: requests.Response = connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


class RefreshingBearerAsyncAuth(httpx.Auth):
    """The same for httpx: the refresher blocks (locks, store I/O), so it runs on a worker thread."""

    def __init__(self, refresher: Refresher) -> None:
        self._refresher = refresher

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send the request with the current token; after a 401, refresh once and send it again."""
        token = await asyncio.to_thread(self._refresher.access_token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            refresh = functools.partial(self._refresher.refresh, rejected_access_token=token)
            record = await asyncio.to_thread(refresh)
            request.headers["Authorization"] = f"Bearer {record.access_token}"
            yield request
