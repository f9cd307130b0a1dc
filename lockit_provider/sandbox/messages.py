"""Plain request and response values passed between the HTTP server and the sandbox's routes."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Request:
    """One HTTP request; header names are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def target(self) -> str:
        """Return the path with its query string, as sent."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def query_params(self) -> dict[str, list[str]]:
        """Return the query string parameters."""
        return parse_qs(self.query, keep_blank_values=True)

    def form(self) -> dict[str, list[str]]:
        """Return the form-encoded body parameters (undecodable bytes replaced)."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def json(self) -> object:
        """Return the decoded JSON body; raise ValueError when it is not JSON."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What to answer; ``drop`` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def error_response(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """Return an RFC 6749 style JSON error: ``{"error", "error_description"}``."""
    return json_response(status, {"error": error, "error_description": description}, headers)


def html_response(status: int, title: str, body_html: str) -> Response:
    """Return a small HTML page; ``title`` is escaped, ``body_html`` is used as given."""
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return Response(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


def redirect(location: str) -> Response:
    """Return a 302 redirect."""
    return Response(302, b"", {"Location": location, "Cache-Control": "no-store"})
