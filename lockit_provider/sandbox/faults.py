"""Injected faults: queued misbehaviours that replace or delay the next matching responses."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lockit_provider.sandbox.messages import JSON_TYPE, Response

TARGETS = ("token", "api", "authorize")
# Cut off mid-document so every JSON parser fails on it.
MALFORMED_BODY = b'{"access_token": "unterminated'


@dataclass
class Fault:
    """One queued fault; ``count`` is how many matching requests it still applies to.

    ``process=True`` lets the sandbox handle the request first (e.g. rotate a refresh token) and only
    then replaces the answer: the "response lost after the server acted" case.
    """

    target: str
    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    malformed: bool = False
    count: int = 1
    path: str | None = None
    process: bool = False

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code; got {self.status!r}")
        if self.count < 1 or self.delay < 0:
            raise ValueError("count must be at least 1 and delay must not be negative")
        self.headers = {str(name): str(value) for name, value in self.headers.items()}

    @classmethod
    def from_json(cls, payload: object) -> Fault:
        """Build a fault from the JSON body of ``POST /_sandbox/faults``; raise ValueError when invalid."""
        if not isinstance(payload, dict):
            raise ValueError("the fault must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "body" in payload and not isinstance(payload["body"], (str, type(None))):
            payload = {**payload, "body": json.dumps(payload["body"])}
        try:
            return cls(**payload)
        except (TypeError, AttributeError) as exc:
            raise ValueError(str(exc)) from exc

    def applies_to(self, target: str, path: str) -> bool:
        """Return whether this fault matches a request to ``target`` at ``path``."""
        return self.target == target and (self.path is None or path.startswith(self.path))

    def response(self) -> Response | None:
        """Return the answer that replaces the real one, or None for a delay-only fault."""
        if self.drop:
            return Response(0, drop=True)
        if self.malformed:
            return Response(200, MALFORMED_BODY, {"Content-Type": JSON_TYPE, **self.headers})
        if self.status is None:
            return None
        body = self.body
        if body is None:
            body = json.dumps({"error": "sandbox_fault", "error_description": f"Injected {self.status}."})
        content_type = "text/html; charset=utf-8" if body.lstrip().startswith("<") else JSON_TYPE
        return Response(self.status, body.encode(), {"Content-Type": content_type, **self.headers})


class FaultQueue:
    """Faults in the order they were added; each request takes the first one that applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def take(self, target: str, path: str) -> Fault | None:
        """Return the first fault for this request and use up one of its ``count``."""
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(target, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """Return the queued faults as JSON-ready dicts."""
        with self._lock:
            return [asdict(fault) for fault in self._faults]
