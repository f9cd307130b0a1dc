"""Errors the provider raises to Airflow code; branch on types and attributes, never on text.

Each class also derives from the matching OAuth-core error, so ``except ReauthorizationRequired``
and ``except LockitReauthorizationRequired`` both work. No message ever contains a token.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException

from lockit_provider.oauth.errors import (
    InvalidClientError,
    OAuthConfigError,
    OAuthError,
    ReauthorizationRequired,
    TokenEndpointError,
    TokenPersistError,
)


class LockitError(AirflowException):
    """Base class of every LockitNetwork provider error."""


class LockitConfigError(LockitError, OAuthConfigError):
    """A connection field or argument is missing or invalid; the message names it and the fix."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        OAuthConfigError.__init__(self, message, field=field)


class LockitReauthorizationRequired(LockitError, ReauthorizationRequired):
    """The grant is gone; the message names the ``airflow lockit authorize`` command to run."""

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class LockitTokenPersistError(LockitError, TokenPersistError):
    """A rotated token could not be stored; it waits in the rescue journal named in the message."""

    def __init__(self, message: str, *, journal_path: str | None = None) -> None:
        TokenPersistError.__init__(self, message, journal_path=journal_path)


class LockitTokenEndpointError(LockitError, TokenEndpointError):
    """The token endpoint failed transiently (5xx, 429, timeout, unreadable body); retry later."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        TokenEndpointError.__init__(self, message, status=status, retry_after=retry_after)


class LockitApiError(LockitError):
    """A LockitNetwork API call failed; carries the status and a short, token-free body excerpt."""

    def __init__(self, message: str, *, status: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body_excerpt = body_excerpt


def as_lockit_error(error: OAuthError, *, conn_id: str) -> LockitError:
    """Translate an OAuth-core error into the provider's error family, keeping its text and fields."""
    message = str(error)
    if isinstance(error, LockitError):
        return error
    if isinstance(error, ReauthorizationRequired):
        return LockitReauthorizationRequired(message, conn_id=conn_id)
    if isinstance(error, TokenPersistError):
        return LockitTokenPersistError(message, journal_path=error.journal_path)
    if isinstance(error, TokenEndpointError):
        return LockitTokenEndpointError(message, status=error.status, retry_after=error.retry_after)
    if isinstance(error, OAuthConfigError):
        return LockitConfigError(message, field=error.field)
    if isinstance(error, InvalidClientError):
        return LockitConfigError(
            f"The token endpoint rejected the client credentials ({message}): check the Client ID "
            f"(field 'login') and Client Secret (field 'password') of connection {conn_id!r}.",
            field="password",
        )
    return LockitError(message)
