"""The oauthlib ``RequestValidator`` that maps oauthlib's questions onto the sandbox's token state."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2 import InvalidGrantError, RequestValidator

from lockit_provider.sandbox.config import ClientConfig
from lockit_provider.sandbox.state import Grant, TokenState

GRANT_TYPES = ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class Client:
    """The authenticated client, as oauthlib wants it on ``request.client``."""

    client_id: str


def basic_credentials(header: str | None) -> list[tuple[str, str]]:
    """Return the (client id, secret) readings of an HTTP Basic header.

    RFC 6749 2.3.1 says both parts are form-encoded before Basic encoding; many clients skip that,
    so the form-decoded reading comes first and the raw reading second.
    """
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return []
    user, colon, password = decoded.partition(":")
    if not colon:
        return []
    return [(unquote_plus(user), unquote_plus(password)), (user, password)]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class SandboxValidator(RequestValidator):
    """Answer oauthlib's validation questions for the single registered confidential client.

    The sandbox has no user accounts: ``request.user`` carries the :class:`Grant` being refreshed.
    """

    def __init__(self, config: ClientConfig, state: TokenState) -> None:
        self._config = config
        self._state = state

    # --- client ---------------------------------------------------------------------------------
    def client_authentication_required(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        """Require client authentication on every token request (confidential client)."""
        return True

    def authenticate_client(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        """Authenticate the client from its HTTP Basic header only, as the vendor documents."""
        for client_id, secret in basic_credentials(request.headers.get("Authorization")):
            if _same(client_id, self._config.client_id) and _same(secret, self._config.client_secret):
                request.client = Client(self._config.client_id)
                return True
        return False

    def authenticate_client_id(
        self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Refuse public clients: there are none."""
        return False

    def validate_client_id(self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        """Accept only the registered client id."""
        return client_id == self._config.client_id

    def validate_grant_type(
        self,
        client_id: str,
        grant_type: str,
        client: object,
        request: OAuthRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Allow the authorization code and refresh token grants."""
        return grant_type in GRANT_TYPES

    def validate_response_type(
        self,
        client_id: str,
        response_type: str,
        client: object,
        request: OAuthRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Allow only ``response_type=code``."""
        return response_type == "code"

    # --- redirect URI and scopes ----------------------------------------------------------------
    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Accept the registered redirect URI (any port on loopback when so configured)."""
        return self._config.redirect_uri_allowed(redirect_uri)

    def get_default_redirect_uri(
        self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> str:
        """Return the registered redirect URI."""
        return self._config.redirect_uri

    def get_default_scopes(
        self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> list[str]:
        """Return no scopes: LockitNetwork has none."""
        return []

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: object,
        request: OAuthRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Ignore scopes, as the real server has none."""
        return True

    def is_within_original_scope(
        self, request_scopes: list[str], refresh_token: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Ignore a scope sent with a refresh request."""
        return True

    def get_original_scopes(
        self, refresh_token: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> list[str]:
        """Return no scopes."""
        return []

    # --- authorization codes --------------------------------------------------------------------
    def save_authorization_code(
        self, client_id: str, code: Mapping[str, object], request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> None:
        """Store a new code with its redirect URI and PKCE challenge."""
        self._state.save_code(
            str(code["code"]),
            client_id,
            str(request.redirect_uri),
            request.code_challenge,
            request.code_challenge_method,
        )

    def validate_code(
        self, client_id: str, code: str, client: object, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Accept an unexpired, unspent code of this client; a replay revokes the code's grant."""
        try:
            record = self._state.usable_code(code, client_id)
        except LookupError as exc:
            raise InvalidGrantError(description=str(exc), request=request) from None
        request.validator_log["code_record"] = record
        request.user = None
        request.scopes = []
        request.code_challenge = record.challenge
        request.code_challenge_method = record.challenge_method
        return True

    def get_code_challenge(self, code: str, request: OAuthRequest) -> str | None:  # type: ignore[override]
        """Return the PKCE challenge stored with the code (None when PKCE was not used)."""
        return request.code_challenge  # set by validate_code

    def get_code_challenge_method(self, code: str, request: OAuthRequest) -> str | None:  # type: ignore[override]
        """Return the PKCE method stored with the code."""
        return request.code_challenge_method

    def is_pkce_required(self, client_id: str, request: OAuthRequest) -> bool:
        """Leave PKCE optional, as the vendor documents."""
        return False

    def confirm_redirect_uri(
        self,
        client_id: str,
        code: str,
        redirect_uri: str,
        client: object,
        request: OAuthRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Require the exact redirect URI of the authorization request (RFC 6749 4.1.3).

        A mismatch is ``invalid_grant`` as RFC 6749 5.2 says (oauthlib would answer invalid_request).
        """
        if request.validator_log["code_record"].redirect_uri != redirect_uri:
            raise InvalidGrantError(
                description="redirect_uri does not match the authorization request.", request=request
            )
        return True

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> None:
        """Nothing to do: ``save_bearer_token`` already marked the code spent."""

    # --- tokens ---------------------------------------------------------------------------------
    def validate_refresh_token(
        self, refresh_token: str, client: object, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Accept a refresh token the refresh policy allows (see ``TokenState.refreshable_grant``)."""
        try:
            request.user = self._state.refreshable_grant(refresh_token)
        except LookupError as exc:
            raise InvalidGrantError(description=str(exc), request=request) from None
        return True

    def rotate_refresh_token(self, request: OAuthRequest) -> bool:
        """Issue a new refresh token on refresh under the ``rotate*`` policies."""
        return self._state.policy.rotates

    def save_bearer_token(
        self, token: Mapping[str, Any], request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> None:
        """Record issued tokens; a code exchange starts a new grant."""
        grant = request.user  # set by validate_refresh_token
        if request.grant_type == "authorization_code":
            grant = self._state.start_grant(str(request.client_id), str(request.code))
        assert isinstance(grant, Grant)
        self._state.issue(grant, token["access_token"], token.get("refresh_token"))
