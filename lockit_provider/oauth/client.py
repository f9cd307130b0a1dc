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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote_plus, urljoin, urlsplit

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
from lockit_provider.http.deadline import Deadline, mount_deadline_adapters
from lockit_provider.oauth.token import TokenRecord, current_actor
from lockit_provider.redaction import printable, retry_after_seconds, scrub

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
PKCE_VERIFIER_LENGTH = 64
# A token response is a few hundred bytes; tokens are capped at 8 KiB each. Anything much larger is
# not a token response, and reading it whole would let a broken server exhaust memory.
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
_READ_CHUNK = 8192

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


def is_allowed_transport(url: str) -> bool:
    """Return whether ``url`` may carry client credentials: https, or plain http to a loopback host."""
    parts = urlsplit(url or "")
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def _check_endpoint(name: str, url: str) -> None:
    """Require https, or http on a loopback host (a local sandbox; the secret never leaves the host).

    This is the one transport gate: oauthlib's own https check is satisfied per call (see
    :func:`_shown_to_oauthlib`), never by the process-wide ``OAUTHLIB_INSECURE_TRANSPORT``.
    """
    parts = urlsplit(url or "")
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise _config_error(name, "must be an absolute https:// URL")
    if not is_allowed_transport(url):
        raise _config_error(
            name, "must use https:// (plain http is only accepted on 127.0.0.1, ::1 and localhost)"
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and what to keep until the redirect comes back."""

    url: str
    state: str = field(repr=False)
    code_verifier: str | None = field(repr=False)


# --- one token request: an overall deadline, no redirects, a capped body --------------------------


def _shown_to_oauthlib(url: str) -> str:
    """Return the form of ``url`` to give oauthlib, whose https check only a process-wide switch lifts.

    ``OAUTHLIB_INSECURE_TRANSPORT`` would lift it for every library in the process. Our own
    :func:`_check_endpoint` is the gate (https, or http on a loopback host), so a loopback http URL is
    shown to oauthlib in its https form; :class:`_TokenSession` sends to the real URL, and
    :meth:`OAuthClient.authorization_request` restores it in the URL it returns.
    """
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return "https" + url[len("http") :]
    return url


class _TokenSession(OAuth2Session):
    """An OAuth2Session for one token request that sends through the client's shared HTTP session.

    One per request because OAuth2Session keeps per-request state (token, code); the shared
    session keeps the connection pool and any adapters the caller mounted. Every send is bounded:
    no redirect is followed, the body is read against the deadline and capped.
    """

    def __init__(
        self, transport: requests.Session, *, deadline: Deadline, real_url: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._transport = transport
        self._deadline = deadline
        self._real_url = real_url
        self._shown_url = _shown_to_oauthlib(real_url)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send through the shared session, to the real URL, within the deadline."""
        if request.url == self._shown_url:
            request.url = self._real_url
        # A redirect would re-send the client credentials and the refresh token to another server.
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs["timeout"] = self._deadline.remaining()
        deadline = self._deadline
        try:
            response = self._transport.send(request, **kwargs)
            raw_connection = getattr(response.raw, "connection", None)
            deadline.attach(getattr(raw_connection, "sock", None))
            content = _read_capped(response, deadline)
        except requests.RequestException:
            if deadline.expired:
                raise _deadline_error(deadline) from None
            raise
        if deadline.expired:
            response.close()
            raise _deadline_error(deadline)
        # What requests' Response.content does, with the cap and the deadline applied.
        response._content = content
        response._content_consumed = True  # type: ignore[attr-defined]
        return response


def _read_capped(response: requests.Response, deadline: Deadline) -> bytes:
    """Read the body in chunks, stopping at the deadline or past the size cap."""
    declared = response.headers.get("Content-Length", "")
    ok = 200 <= response.status_code < 300
    if ok and declared.isdigit() and int(declared) > MAX_TOKEN_RESPONSE_BYTES:
        response.close()
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_TOKEN_RESPONSE_BYTES or deadline.expired:
                break
    finally:
        if size > MAX_TOKEN_RESPONSE_BYTES or deadline.expired:
            response.close()  # not read to its end: the connection cannot be reused
    if size > MAX_TOKEN_RESPONSE_BYTES:
        if ok:
            raise _too_large()
        # An error page: its head is enough to classify it.
        return b"".join(chunks)[:MAX_TOKEN_RESPONSE_BYTES]
    return b"".join(chunks)


def _too_large() -> TokenResponseError:
    return TokenResponseError(
        f"the token endpoint's answer is larger than {MAX_TOKEN_RESPONSE_BYTES // 1024} KiB, which no token "
        "response is: check the connection extra 'token_url'; nothing was stored"
    )


def _deadline_error(deadline: Deadline) -> LockitTokenEndpointError:
    return LockitTokenEndpointError(
        f"the token endpoint did not complete its answer within {deadline.seconds:g}s (the connection "
        "extra 'timeout' bounds the whole token request); nothing was stored"
    )


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
        self._owns_http = session is None
        if session is None:
            session = requests.Session()
            mount_deadline_adapters(session)
        self._http = session
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
        real = self.config.authorize_url
        shown = _shown_to_oauthlib(real)
        try:
            url = oauth.prepare_request_uri(shown, redirect_uri=self.config.redirect_uri, state=state, **pkce)
        except InsecureTransportError:
            raise _insecure_transport("authorize_url") from None
        return AuthorizationRequest(url=real + url[len(shown) :], state=state, code_verifier=verifier)

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
            raise _protocol_error(None, params, "the authorization was refused", ())
        code = params.get("code")
        if not code:
            raise LockitError("the redirect carries no authorization code")
        return code

    def exchange_code(self, code: str, *, code_verifier: str | None) -> TokenRecord:
        """Exchange an authorization code (and its PKCE verifier) for a first token record."""
        return self._token_request(
            "access_token_response",
            None,
            (code, code_verifier),
            lambda oauth, url: oauth.fetch_token(
                url,
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
            (record.refresh_token, record.access_token),
            lambda oauth, url: oauth.refresh_token(
                url, refresh_token=record.refresh_token, **self._request_options()
            ),
        )

    def _request_options(self) -> dict[str, Any]:
        return {"auth": self._auth, "timeout": self.config.timeout, "verify": self.config.verify}

    def _token_request(
        self,
        hook: str,
        previous: TokenRecord | None,
        sent: Iterable[str | None],
        send: Callable[[OAuth2Session, str], object],
    ) -> TokenRecord:
        """Send one token request; the compliance hook parses the response before oauthlib does."""
        parsed: list[TokenRecord] = []
        secrets = (*sent, self.config.client_secret)
        # The token's lifetime runs from when the server may have issued it, i.e. from the request.
        sent_at = self._clock()

        def check(response: requests.Response) -> requests.Response:
            parsed.append(self._record_from_response(response, previous, sent_at, secrets))
            return response

        deadline = Deadline(self.config.timeout)
        oauth = _TokenSession(
            self._http,
            deadline=deadline,
            real_url=self.config.token_url,
            client_id=self.config.client_id,
            redirect_uri=self.config.redirect_uri,
        )
        oauth.register_compliance_hook(hook, check)
        try:
            with deadline.running():
                send(oauth, _shown_to_oauthlib(self.config.token_url))
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

    def _record_from_response(
        self,
        response: requests.Response,
        previous: TokenRecord | None,
        sent_at: float,
        secrets: Iterable[str | None],
    ) -> TokenRecord:
        """Classify the token endpoint's answer; return the parsed record on success."""
        status = response.status_code
        if 300 <= status < 400:
            raise _redirect_error(response)
        try:
            body: object = response.json()
        except ValueError:
            body = None
        if status == 429 or status >= 500:
            raise LockitTokenEndpointError(
                f"the token endpoint answered HTTP {status}{_error_summary(body, secrets)}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After"), self._clock()),
            )
        if isinstance(body, dict) and "error" in body:
            raise _protocol_error(
                status, body, f"the token endpoint refused the request (HTTP {status})", secrets
            )
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
            kind = printable(response.headers.get("Content-Type", "no content type"))
            raise LockitTokenEndpointError(
                f"the token endpoint answered HTTP {status} with a body that is not JSON ({kind[:40]})",
                status=status,
            )
        return TokenRecord.from_token_response(
            body,
            previous=previous,
            now=sent_at,
            obtained_by=current_actor(),
            client_id=self.config.client_id,
        )


def _redirect_error(response: requests.Response) -> LockitConfigError:
    """Name where the token endpoint redirects to; following it would hand the credentials over."""
    location = response.headers.get("Location")
    target = urlsplit(urljoin(response.url or "", location)) if location else None
    host = printable(target.hostname or "")[:100] if target is not None else ""
    where = f"to {host!r}" if host else "without a usable Location"
    return _config_error(
        "token_url",
        f"redirects (HTTP {response.status_code} {where}): a token request is never sent on to another "
        "address, since that would hand over the client secret and the refresh token. "
        + (f"If {host} is the right token server, set the URL it redirects to. " if host else "")
        + "Nothing was sent there and nothing was stored",
    )


def _error_summary(body: object, secrets: Iterable[str | None] = ()) -> str:
    """Return ``: error (description)`` from an OAuth error body, scrubbed; empty otherwise."""
    if not isinstance(body, dict) or "error" not in body:
        return ""
    description = scrub(body.get("error_description"), secrets)
    return f": {scrub(body.get('error'), secrets)}" + (f" ({description})" if description else "")


def _protocol_error(
    status: int | None, body: dict[str, Any], context: str, secrets: Iterable[str | None]
) -> OAuthProtocolError:
    """Map an RFC 6749 error response to the exception class a caller branches on."""
    secrets = tuple(secrets)
    error = scrub(body.get("error"), secrets)
    kind = {"invalid_grant": InvalidGrantError, "invalid_client": InvalidClientError}.get(
        error or "", OAuthProtocolError
    )
    fix = ""
    if kind is InvalidClientError:
        fix = ": check the Client ID (field 'login') and Client Secret (field 'password') of the connection"
    return kind(
        f"{context}{_error_summary(body, secrets)}{fix}",
        error=error,
        status=status,
        description=scrub(body.get("error_description"), secrets),
    )


def _insecure_transport(name: str) -> LockitConfigError:
    return _config_error(
        name,
        "uses plain http: only https, or http to 127.0.0.1, ::1 or localhost (a local sandbox), is accepted",
    )
