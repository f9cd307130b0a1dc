"""Errors of the OAuth core; plain exceptions so this layer imports no Airflow.

``lockit_provider.exceptions`` derives the Airflow-facing classes from these, so callers can branch
on either family. No message ever contains a token.
"""

from __future__ import annotations


class OAuthError(Exception):
    """Base class of every error raised by the OAuth core."""


class OAuthConfigError(OAuthError):
    """A client setting is missing or invalid; the message names the field and how to set it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TokenResponseError(OAuthError):
    """The token endpoint answered with something that is not a usable token response."""

    def __init__(self, message: str, *, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class TokenRecordError(OAuthError):
    """A stored token record cannot be read (corrupt, truncated or from an unknown version)."""


class TokenEndpointError(OAuthError):
    """The token endpoint failed in a way worth retrying later (5xx, timeout, 429, bad body)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OAuthProtocolError(OAuthError):
    """The token endpoint refused the request with an RFC 6749 section 5.2 error code."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.description = description


class InvalidGrantError(OAuthProtocolError):
    """The token endpoint rejected the grant (RFC 6749 ``invalid_grant``)."""


class InvalidClientError(OAuthProtocolError):
    """The token endpoint rejected the client credentials (RFC 6749 ``invalid_client``)."""


class ReauthorizationRequired(OAuthError):
    """No usable refresh token is left: a person must run the authorization again."""


class RefreshLockTimeout(OAuthError):
    """Another thread or process held the refresh lock for longer than the lock timeout."""


class _JournalPathError(OAuthError):
    """An error about a rescue journal entry; ``journal_path`` says which file."""

    def __init__(self, message: str, *, journal_path: str | None = None) -> None:
        super().__init__(message)
        self.journal_path = journal_path


class JournalError(_JournalPathError):
    """The rescue journal cannot be read: wrong key (client secret changed) or a damaged file."""


class TokenPersistError(_JournalPathError):
    """A rotated token could not be written to the store; it is kept in the rescue journal."""
