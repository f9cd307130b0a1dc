"""The sandbox application: routes requests to OAuth, API or control handlers and applies faults."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lockit_provider.sandbox.api import LockitApi
from lockit_provider.sandbox.clips import ClipBoard
from lockit_provider.sandbox.config import ClientConfig
from lockit_provider.sandbox.control import CONTROL_PREFIX, handle_control
from lockit_provider.sandbox.faults import Fault, FaultQueue
from lockit_provider.sandbox.messages import Request, Response, error_response
from lockit_provider.sandbox.oauth import AUTHORIZE_PATH, TOKEN_PATH, OAuthEndpoints
from lockit_provider.sandbox.state import TokenState
from lockit_provider.sandbox.stats import Stats


class SandboxApp:
    """Everything the sandbox knows, independent of the HTTP server that carries it."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.state = TokenState(config.policy, config.expires_in, config.code_ttl)
        self._stats = Stats()
        self._faults = FaultQueue()
        self._clips = ClipBoard()
        self._oauth = OAuthEndpoints(config, self.state, self._stats)
        self._api = LockitApi(self.state, self._stats, self._clips)

    def handle(self, request: Request) -> Response:
        """Answer one request, applying the first queued fault that matches it."""
        if request.path.startswith(CONTROL_PREFIX):
            return handle_control(self, request)
        target = {AUTHORIZE_PATH: "authorize", TOKEN_PATH: "token"}.get(request.path, "api")
        if target == "token":
            self._stats.count_token_request((request.form().get("grant_type") or ["(none)"])[0])
        fault = self._faults.take(target, request.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        replacement = fault.response() if fault is not None else None
        if replacement is None or (fault is not None and fault.process):
            response = self._route(target, request)
        if replacement is not None:
            response = replacement
        if target == "api":
            self._stats.count_api_response("dropped" if response.drop else str(response.status))
        return response

    def _route(self, target: str, request: Request) -> Response:
        if target == "api":
            return self._api.handle(request)
        if target == "authorize" and request.method in ("GET", "POST"):
            return self._oauth.authorize(request)
        if target == "token" and request.method == "POST":
            return self._oauth.token(request)
        allow = "GET, POST" if target == "authorize" else "POST"
        return error_response(405, "invalid_request", f"Use {allow}.", {"Allow": allow})

    # The control surface: the HTTP routes under /_sandbox/ and the Sandbox methods both use these.
    def stats(self) -> dict[str, Any]:
        """Return counters, issued tokens, grants and the number of queued faults."""
        return {**self._stats.snapshot(), **self.state.snapshot(), "faults": self._faults.pending()}

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault."""
        self._faults.add(fault)

    def add_clips(self, project: str, day: str, clips: Iterable[str], after: float) -> None:
        """Make clip names match on a shooting day ``after`` seconds from now."""
        self._clips.schedule(project, day, clips, after)

    def issue_tokens(self) -> dict[str, Any]:
        """Run a full authorization code grant in-process and return the token response."""
        return self._oauth.issue_tokens()

    def reset(self) -> None:
        """Clear queued faults and zero the counters; grants and tokens stay."""
        self._faults.clear()
        self._stats.reset()
