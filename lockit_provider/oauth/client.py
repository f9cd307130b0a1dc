"""OAuth 2.0 authorization code client (RFC 6749, PKCE RFC 7636) on requests-oauthlib.

requests-oauthlib builds and sends the token requests; this module adds what it leaves out: client
credentials form-encoded per RFC 6749 section 2.3.1, strict parsing into a :class:`TokenRecord`, and
errors classified by what the caller should do (retry later, re-authorize, fix the configuration).
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote_plus, urlsplit

import requests
from oauthlib.common import generate_token
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error, WebApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from lockit_provider.exceptions import (
    InvalidClientError,
    InvalidGrantError,
    LockitConfigError,
    LockitError,
    LockitReauthorizationRequired,
    LockitTokenEndpointError,
    OAuthProtocolError,
    TokenResponseError,
)
from lockit_provider.oauth.redaction import retry_after_seconds, scrub
from lockit_provider.oauth.token import TokenRecord, current_actor

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
PKCE_VERIFIER_LENGTH = 64

# Where each setting comes from in the Airflow Connection, for messages a person can act on.
_CONNECTION_FIELDS = {
    "client_id": "Connection field 'login' (Client ID)",
    "client_secret": "Connection field 'password' (Client Secret)",
    "authorize_url": "Connection extra 'authorize_url' (or the API base URL in 'host')",
    "token_url": "Connection extra 'token_url' (or the API base URL in 'host')",
    "redirect_uri": "Connection extra 'redirect_uri'",
    "client_auth": "Connection extra 'client_auth'",
    "timeout": "Connection extra 'timeout'",
    "verify": "Connection extra 'ca_bundle'",
}


class _NoDebugRecords(logging.Filter):
    """Drop requests-oauthlib's DEBUG records: they print request bodies, Basic headers and tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


logging.getLogger("requests_oauthlib.oauth2_session").addFilter(_NoDebugRecords())


def _config_error(name: str, problem: str) -> LockitConfigError:
    return LockitConfigError(f"{_CONNECTION_FIELDS[name]} {problem}", field=name)


@dataclass(frozen=True, kw_only=True)
class OAuthClientConfig:
    """Everything the client needs, validated on construction."""

    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    redirect_uri: str
    use_pkce: bool = True
    client_auth: Literal["form", "raw"] = "form"
    timeout: float = 30.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret"):
            if not getattr(self, name):
                raise _config_error(name, "is empty: set it in the connection")
        for name in ("authorize_url", "token_url"):
            _check_endpoint(name, getattr(self, name))
        redirect = urlsplit(self.redirect_uri or "")
        if redirect.scheme not in ("http", "https") or not redirect.hostname or redirect.fragment:
            raise _config_error("redirect_uri", "must be an absolute http(s) URL without a fragment")
        if self.client_auth not in ("form", "raw"):
            raise _config_error("client_auth", "must be 'form' or 'raw'")
        if isinstance(self.timeout, bool) or not (
            isinstance(self.timeout, (int, float)) and math.isfinite(self.timeout) and self.timeout > 0
        ):
            raise _config_error("timeout", "must be a positive number of seconds")
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            raise _config_error("verify", "names a CA bundle file that does not exist")


def _check_endpoint(name: str, url: str) -> None:
    """Require https, or http on a loopback host (a local sandbox; the secret never leaves the host)."""
    parts = urlsplit(url or "")
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise _config_error(name, "must be an absolute https:// URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise _config_error(name, "must use https:// (plain http is only accepted on 127.0.0.1/localhost)")


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and what to keep until the redirect comes back."""

    url: str
    state: str = field(repr=False)
    code_verifier: str | None = field(repr=False)


class _TokenSession(OAuth2Session):
    """An OAuth2Session for one token request that sends through the client's shared HTTP session.

    One per request because OAuth2Session keeps per-request state (token, code); the shared
    session keeps the connection pool and any adapters the caller mounted.
    """

    def __init__(self, transport: requests.Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport = transport

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send through the shared session."""
        return self._transport.send(request, **kwargs)


class OAuthClient:
    """Build authorization URLs, exchange codes and refresh tokens against one OAuth server."""

    def __init__(
        self,
        config: OAuthClientConfig,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._http = session if session is not None else requests.Session()
        self._owns_http = session is None
        self._clock = clock
        if config.client_auth == "form":
            self._auth = HTTPBasicAuth(quote_plus(config.client_id), quote_plus(config.client_secret))
        else:
            self._auth = HTTPBasicAuth(config.client_id, config.client_secret)

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_http:
            self._http.close()

    def authorization_request(self) -> AuthorizationRequest:
        """Return a fresh authorization URL with a random ``state`` and, if enabled, a PKCE S256 challenge."""
        oauth = WebApplicationClient(self.config.client_id)
        state = generate_token()
        verifier = None
        pkce: dict[str, str] = {}
        if self.config.use_pkce:
            verifier = oauth.create_code_verifier(PKCE_VERIFIER_LENGTH)
            pkce = {
                "code_challenge": oauth.create_code_challenge(verifier, "S256"),
                "code_challenge_method": "S256",
            }
        try:
            url = oauth.prepare_request_uri(
                self.config.authorize_url, redirect_uri=self.config.redirect_uri, state=state, **pkce
            )
        except InsecureTransportError:
            raise _insecure_transport("authorize_url") from None
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    def code_from_redirect(self, redirect_url: str, *, state: str) -> str:
        """Return the authorization code from the redirect, after checking its ``state``."""
        params = dict(parse_qsl(urlsplit(redirect_url).query))
        # state first: an error redirect with a foreign state is as untrusted as a forged code.
        if not hmac.compare_digest(params.get("state", ""), state):
            raise LockitError(
                "the redirect's state does not match this authorization request (a stale or forged "
                "redirect): start the authorization again"
            )
        if "error" in params:
            raise _protocol_error(None, params, "the authorization was refused")
        code = params.get("code")
        if not code:
            raise LockitError("the redirect carries no authorization code")
        return code

    def exchange_code(self, code: str, *, code_verifier: str | None) -> TokenRecord:
        """Exchange an authorization code (and its PKCE verifier) for a first token record."""
        return self._token_request(
            "access_token_response",
            None,
            lambda oauth: oauth.fetch_token(
                self.config.token_url,
                code=code,
                code_verifier=code_verifier,
                include_client_id=False,  # the client id is in the Basic header already
                **self._request_options(),
            ),
        )

    def refresh(self, record: TokenRecord) -> TokenRecord:
        """Redeem ``record``'s refresh token for a new record; keeps the refresh token if none comes back."""
        if not record.refresh_token:
            raise LockitReauthorizationRequired("the token record has no refresh token")
        return self._token_request(
            "refresh_token_response",
            record,
            lambda oauth: oauth.refresh_token(
                self.config.token_url, refresh_token=record.refresh_token, **self._request_options()
            ),
        )

    def _request_options(self) -> dict[str, Any]:
        return {"auth": self._auth, "timeout": self.config.timeout, "verify": self.config.verify}

    def _token_request(
        self, hook: str, previous: TokenRecord | None, send: Callable[[OAuth2Session], object]
    ) -> TokenRecord:
        """Send one token request; the compliance hook parses the response before oauthlib does."""
        parsed: list[TokenRecord] = []

        def check(response: requests.Response) -> requests.Response:
            parsed.append(self._record_from_response(response, previous))
            return response

        oauth = _TokenSession(
            self._http, client_id=self.config.client_id, redirect_uri=self.config.redirect_uri
        )
        oauth.register_compliance_hook(hook, check)
        try:
            send(oauth)
        except LockitError:
            raise
        except requests.Timeout:
            raise LockitTokenEndpointError(
                f"the token endpoint did not answer within {self.config.timeout:g}s"
            ) from None
        except requests.RequestException as exc:
            raise LockitTokenEndpointError(
                f"the token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        except InsecureTransportError:
            raise _insecure_transport("token_url") from None
        except (OAuth2Error, ValueError, Warning) as exc:
            if not parsed:
                raise TokenResponseError(
                    f"oauthlib rejected the token response ({type(exc).__name__})"
                ) from None
        finally:
            oauth.close()
        return parsed[0]

    def _record_from_response(self, response: requests.Response, previous: TokenRecord | None) -> TokenRecord:
        """Classify the token endpoint's answer; return the parsed record on success."""
        status = response.status_code
        try:
            body: object = response.json()
        except ValueError:
            body = None
        if status == 429 or status >= 500:
            raise LockitTokenEndpointError(
                f"the token endpoint answered HTTP {status}{_error_summary(body)}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After"), self._clock()),
            )
        if isinstance(body, dict) and "error" in body:
            raise _protocol_error(status, body, f"the token endpoint refused the request (HTTP {status})")
        if status == 401:
            raise InvalidClientError(
                "the token endpoint answered HTTP 401: check the Client ID (field 'login') and Client Secret "
                "(field 'password') of the connection",
                error="invalid_client",
                status=status,
            )
        if not 200 <= status < 300:
            raise TokenResponseError(
                f"the token endpoint answered HTTP {status} without an OAuth error: check the token URL"
            )
        if body is None:
            kind = response.headers.get("Content-Type", "no content type")
            raise LockitTokenEndpointError(
                f"the token endpoint answered HTTP {status} with a body that is not JSON ({kind[:40]})",
                status=status,
            )
        return TokenRecord.from_token_response(
            body, previous=previous, now=self._clock(), obtained_by=current_actor()
        )


def _error_summary(body: object) -> str:
    """Return ``: error (description)`` from an OAuth error body, scrubbed; empty otherwise."""
    if not isinstance(body, dict) or "error" not in body:
        return ""
    description = scrub(body.get("error_description"))
    return f": {scrub(body.get('error'))}" + (f" ({description})" if description else "")


def _protocol_error(status: int | None, body: dict[str, Any], context: str) -> OAuthProtocolError:
    """Map an RFC 6749 error response to the exception class a caller branches on."""
    error = scrub(body.get("error"))
    kind = {"invalid_grant": InvalidGrantError, "invalid_client": InvalidClientError}.get(
        error or "", OAuthProtocolError
    )
    fix = ""
    if kind is InvalidClientError:
        fix = ": check the Client ID (field 'login') and Client Secret (field 'password') of the connection"
    return kind(
        f"{context}{_error_summary(body)}{fix}",
        error=error,
        status=status,
        description=scrub(body.get("error_description")),
    )


def _insecure_transport(name: str) -> LockitConfigError:
    return _config_error(
        name,
        "uses plain http: requests-oauthlib refuses it unless OAUTHLIB_INSECURE_TRANSPORT=1 is set "
        "(only ever for a local sandbox)",
    )
