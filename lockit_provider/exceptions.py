"""The provider's one error family; branch on types and attributes, never on text.

The OAuth core, the hooks, the CLI and the operators all raise these classes, so a type and its
attributes survive from where a failure happens to the task log. Imports no Airflow: the OAuth core
uses it too. No message, ``__cause__`` or ``__context__`` ever carries a token.

``retryable`` says whether the same call may succeed later as it is (an outage, a rate limit, a lock
held elsewhere). Operators and sensors fail the task at once for the others (see :func:`fail_fast`):
retrying a configuration error or a dead grant only delays the person who must fix it.
"""

from __future__ import annotations


class LockitError(Exception):
    """Base class of every LockitNetwork provider error."""

    retryable: bool = False


class LockitConfigError(LockitError):
    """A connection field or argument is missing or invalid; the message names it and the fix."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TokenResponseError(LockitError):
    """The token endpoint answered with something that is not a usable token response."""

    def __init__(self, message: str, *, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class TokenRecordError(LockitError):
    """A stored token record cannot be read (corrupt, truncated or from an unknown version)."""


class LockitTokenEndpointError(LockitError):
    """The token endpoint failed in a way worth retrying later (5xx, timeout, 429, bad body)."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OAuthProtocolError(LockitError):
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


class InvalidClientError(OAuthProtocolError, LockitConfigError):
    """The token endpoint rejected the client credentials: fix the Client ID or Client Secret."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        description: str | None = None,
    ) -> None:
        OAuthProtocolError.__init__(self, message, error=error, status=status, description=description)
        self.field = "password"


class LockitReauthorizationRequired(LockitError):
    """No usable refresh token is left: a person must run ``airflow lockit authorize`` again."""

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class RefreshLockTimeout(LockitError):
    """Another thread, process or host held the refresh lock for longer than the lock timeout.

    ``holder`` names who held it (``host/pid since …``) when that is known.
    """

    retryable = True

    def __init__(self, message: str, *, lock: str | None = None, holder: str | None = None) -> None:
        super().__init__(message)
        self.lock = lock
        self.holder = holder


class LockUnavailable(RefreshLockTimeout):
    """The cross-host lock service could not be reached: no refresh token was spent; retry later."""


class JournalError(LockitError):
    """The rescue journal cannot be read: wrong key (client secret changed) or a damaged file."""

    def __init__(self, message: str, *, journal_path: str | None = None) -> None:
        super().__init__(message)
        self.journal_path = journal_path


class LockitTokenPersistError(JournalError):
    """A rotated token could not be written to the store; it is kept in the rescue journal.

    Retryable: the next token request on this host replays the journal entry once the store accepts
    writes again.
    """

    retryable = True


class LockitApiError(LockitError):
    """A LockitNetwork API call failed; carries the status and a short, token-free body excerpt."""

    RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

    def __init__(self, message: str, *, status: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body_excerpt = body_excerpt
        # No answer at all, or a 429/502/503/504: the same call may succeed later.
        self.retryable = status is None or status in self.RETRYABLE_STATUSES


def is_transient(error: BaseException) -> bool:
    """Tell whether a failed call may succeed later as it is."""
    return isinstance(error, LockitError) and bool(error.retryable)


def fail_fast(error: LockitError) -> BaseException:
    """Return the exception a task should raise for ``error`` (raise it from the error).

    Errors that retrying cannot fix become Airflow's ``AirflowFailException`` (the task fails at once,
    whatever its ``retries``); the others are returned as they are so Airflow's retries apply.
    """
    if is_transient(error):
        return error
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"{type(error).__name__}: {error}")
