"""The authorization and token endpoints, served by oauthlib's ``WebApplicationServer``."""

from __future__ import annotations

import base64
import html
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2 import (
    AccessDeniedError,
    FatalClientError,
    OAuth2Error,
    WebApplicationServer,
)
from oauthlib.oauth2.rfc6749.errors import UnsupportedCodeChallengeMethodError

from lockit_provider.sandbox.config import ClientConfig
from lockit_provider.sandbox.messages import Request, Response, html_response, redirect
from lockit_provider.sandbox.state import TokenState, new_token
from lockit_provider.sandbox.stats import Stats
from lockit_provider.sandbox.validator import SandboxValidator

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/access-token"  # noqa: S105 - a path, not a secret


def basic_header(client_id: str, secret: str) -> str:
    """Return an HTTP Basic header value for the raw (not form-encoded) credentials."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _require_s256(request: OAuthRequest) -> dict[str, Any]:
    # oauthlib also accepts "plain" (the RFC 7636 default when no method is sent); the sandbox does not.
    if request.code_challenge is not None and request.code_challenge_method != "S256":
        raise UnsupportedCodeChallengeMethodError(
            description="Only code_challenge_method=S256 is supported.", request=request
        )
    return {}


def _token_generator(request: OAuthRequest) -> str:
    return new_token()


def _consent_page(params: dict[str, list[str]], client_id: str) -> Response:
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(name)}' value='{html.escape(value)}'>"
        for name, values in params.items()
        for value in values
    )
    form = (
        f"<p>The application <b>{html.escape(client_id)}</b> asks to access your LockitNetwork data.</p>"
        f"<form method='post' action='{AUTHORIZE_PATH}'>{hidden}"
        "<button type='submit' name='decision' value='approve'>Approve</button> "
        "<button type='submit' name='decision' value='deny'>Deny</button></form>"
    )
    return html_response(200, "LockitNetwork Tools: authorize access", form)


class OAuthEndpoints:
    """Serve ``/oauth/authorize`` and ``/oauth/access-token``; all validation is oauthlib's."""

    def __init__(self, config: ClientConfig, state: TokenState, stats: Stats) -> None:
        self._config = config
        self._state = state
        self._stats = stats
        self._server = WebApplicationServer(
            SandboxValidator(config, state),
            token_generator=_token_generator,
            token_expires_in=config.expires_in,
            refresh_token_generator=_token_generator,
        )
        self._server.auth_grant.custom_validators.pre_auth = [_require_s256]  # type: ignore[attr-defined]
        self._server.auth_grant.register_token_modifier(self._shape_token)
        self._server.refresh_grant.register_token_modifier(self._shape_token)

    def _shape_token(
        self, token: dict[str, Any], handler: object, request: OAuthRequest | None
    ) -> dict[str, Any]:
        # The vendor's response has no scope member; static-omit leaves the unchanged refresh token out.
        token.pop("scope", None)
        if (
            request is not None
            and request.grant_type == "refresh_token"
            and self._state.policy.omits_refresh_token
        ):
            token.pop("refresh_token", None)
        return token

    def authorize(self, request: Request) -> Response:
        """Validate an authorization request, then show the consent page or redirect with a code."""
        params = request.query_params() if request.method == "GET" else request.form()
        decision = (params.pop("decision", None) or [""])[0]
        uri = f"{AUTHORIZE_PATH}?{urlencode(params, doseq=True)}"
        try:
            _, info = self._server.validate_authorization_request(uri)
        except FatalClientError as exc:
            # Never redirect to an unverified URI (RFC 6749 4.1.2.1): show the error instead.
            message = f"<p>{html.escape(exc.error or '')}: {html.escape(exc.description)}</p>"
            return html_response(exc.status_code, "Authorization request rejected", message)
        except OAuth2Error as exc:
            return redirect(exc.in_uri(exc.redirect_uri or self._config.redirect_uri))
        if request.method == "GET" and not self._config.auto_approve:
            return _consent_page(params, self._config.client_id)
        if decision == "deny":
            return redirect(AccessDeniedError(state=info["state"]).in_uri(info["redirect_uri"]))
        if request.method == "POST" and decision != "approve":
            return html_response(
                400, "Authorization request rejected", "<p>decision must be approve or deny</p>"
            )
        headers, _, status = self._server.create_authorization_response(uri, scopes=[])
        return Response(status, b"", headers)

    def token(self, request: Request) -> Response:
        """Answer a token request (code exchange or refresh) and count its errors."""
        body = request.body.decode("utf-8", "replace")
        with self._state.lock:  # one token request at a time: validation and rotation are atomic
            headers, text, status = self._server.create_token_response(
                request.target, "POST", body, request.headers
            )
        if status >= 400:
            self._stats.count_token_error(str(json.loads(text).get("error")))
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="LockitNetwork"'
        return Response(status, text.encode(), headers)

    def issue_tokens(self) -> dict[str, Any]:
        """Run a whole authorization code grant in-process and return the token response."""
        cfg = self._config
        query = {"response_type": "code", "client_id": cfg.client_id, "redirect_uri": cfg.redirect_uri}
        with self._state.lock:
            headers, _, _ = self._server.create_authorization_response(
                f"{AUTHORIZE_PATH}?{urlencode(query)}", scopes=[]
            )
            code = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": cfg.redirect_uri}
            _, text, status = self._server.create_token_response(
                TOKEN_PATH,
                "POST",
                urlencode(form),
                {"Authorization": basic_header(cfg.client_id, cfg.client_secret)},
            )
        if status != 200:
            raise RuntimeError(f"the sandbox refused its own token request: {text}")
        result: dict[str, Any] = json.loads(text)
        return result
