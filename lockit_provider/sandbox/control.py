"""The unauthenticated ``/_sandbox/`` routes that tests use to inspect and steer the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockit_provider.sandbox.faults import Fault
from lockit_provider.sandbox.messages import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from lockit_provider.sandbox.app import SandboxApp

CONTROL_PREFIX = "/_sandbox/"


def _json_object(request: Request) -> dict[str, Any]:
    try:
        payload = request.json() if request.body else {}
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


def _add_clips(app: SandboxApp, request: Request) -> Response:
    payload = _json_object(request)
    clips, after = payload.get("clips"), payload.get("after", 0)
    if not isinstance(clips, list) or not all(isinstance(clip, str) for clip in clips):
        raise ValueError("clips must be a list of clip file names")
    if not isinstance(after, (int, float)) or after < 0:
        raise ValueError("after must be a number of seconds >= 0")
    try:
        app.add_clips(str(payload.get("project")), str(payload.get("day")), clips, after)
    except LookupError as exc:
        return error_response(404, "not_found", str(exc.args[0]))
    return json_response(200, {"scheduled": len(clips), "after": after})


def _add_fault(app: SandboxApp, request: Request) -> Response:
    app.add_fault(Fault.from_json(_json_object(request)))
    return json_response(201, {"queued": len(app.stats()["faults"])})


def handle_control(app: SandboxApp, request: Request) -> Response:
    """Route a ``/_sandbox/`` request: stats, faults, clips, expire, reset, issue-tokens."""
    action = (request.method, request.path[len(CONTROL_PREFIX) :])
    try:
        if action == ("GET", "stats"):
            return json_response(200, app.stats())
        if action == ("POST", "faults"):
            return _add_fault(app, request)
        if action == ("POST", "clips"):
            return _add_clips(app, request)
        if action == ("POST", "expire"):
            app.state.expire_access_tokens()
            return json_response(200, {"expired": True})
        if action == ("POST", "reset"):
            app.reset()
            return json_response(200, {"reset": True})
        if action == ("POST", "issue-tokens"):
            return json_response(200, app.issue_tokens())
    except ValueError as exc:
        return error_response(400, "invalid_request", str(exc))
    return error_response(404, "not_found", f"No control route {request.method} {request.path}.")
