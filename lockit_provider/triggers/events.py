"""Trigger events as plain JSON with a ``status``, and turning an error event back into a task failure."""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TriggerEvent

from lockit_provider.exceptions import (
    LockitApiError,
    LockitError,
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
)
from lockit_provider.redaction import redact


def success_event(**payload: Any) -> TriggerEvent:
    """Return a success event carrying ``payload`` (JSON values only)."""
    return TriggerEvent({"status": "success", **payload})


def error_event(error: BaseException) -> TriggerEvent:
    """Describe a failure as an event: type, token-free message, HTTP status and body excerpt."""
    return TriggerEvent(
        {
            "status": "error",
            "error_type": type(error).__name__,
            "message": redact(str(error)) or type(error).__name__,
            "http_status": getattr(error, "status", None),
            "body_excerpt": getattr(error, "body_excerpt", ""),
        }
    )


def event_payload(event: dict[str, Any] | None) -> dict[str, Any]:
    """Return a success event as it is; raise the provider error an error event describes."""
    if event is None:
        raise LockitError("The trigger finished without an event.")
    if event.get("status") == "success":
        return event
    message = f"The trigger failed: {event.get('message', event)}"
    error_type, status = event.get("error_type"), event.get("http_status")
    if error_type == LockitReauthorizationRequired.__name__:
        raise LockitReauthorizationRequired(message)
    if error_type == LockitTokenEndpointError.__name__:
        raise LockitTokenEndpointError(message, status=status)
    if error_type == LockitApiError.__name__ or status is not None:
        raise LockitApiError(message, status=status, body_excerpt=event.get("body_excerpt") or "")
    raise LockitError(f"{message} ({error_type})")
