"""Grant, code and token records of the sandbox's authorization server, behind one lock."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from lockit_provider.sandbox.config import RefreshPolicy


def new_token() -> str:
    """Return a fresh random token: 43 URL-safe characters, long enough for secret masking."""
    return secrets.token_urlsafe(32)


@dataclass
class CodeRecord:
    """An authorization code and what it was issued for."""

    client_id: str
    redirect_uri: str
    challenge: str | None
    challenge_method: str | None
    expires_at: float
    grant_id: str | None = None  # set when the code is spent

    @property
    def spent(self) -> bool:
        """Return whether the code has already been exchanged."""
        return self.grant_id is not None


@dataclass
class Grant:
    """One authorization: every token issued from one code and its refreshes."""

    id: str
    client_id: str
    current_refresh_token: str | None = None
    superseded: dict[str, float] = field(default_factory=dict)  # old refresh token -> when rotated away
    access_expiry: dict[str, float] = field(default_factory=dict)  # access token -> expiry time
    revoked: bool = False


class TokenState:
    """Every code, grant and token, guarded by ``lock`` (re-entrant, held across a whole token request)."""

    def __init__(self, policy: RefreshPolicy, expires_in: int, code_ttl: float) -> None:
        self.lock = threading.RLock()
        self.policy = policy
        self.expires_in = expires_in
        self.code_ttl = code_ttl
        self._codes: dict[str, CodeRecord] = {}
        self._grants: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}
        self._by_access: dict[str, Grant] = {}
        self._issued: dict[str, None] = {}  # insertion-ordered set

    def save_code(
        self, code: str, client_id: str, redirect_uri: str, challenge: str | None, method: str | None
    ) -> None:
        """Remember a newly issued authorization code."""
        with self.lock:
            expires_at = time.monotonic() + self.code_ttl
            self._codes[code] = CodeRecord(client_id, redirect_uri, challenge, method, expires_at)

    def usable_code(self, code: str, client_id: str) -> CodeRecord:
        """Return the record of a valid, unspent code, else raise LookupError saying why.

        A replayed code revokes the tokens issued from it (RFC 6749 4.1.2).
        """
        with self.lock:
            record = self._codes.get(code)
            if record is None or record.client_id != client_id:
                raise LookupError("The authorization code is unknown.")
            if record.grant_id is not None:
                self.revoke(self._grants[record.grant_id])
                raise LookupError("The authorization code was already used; its tokens are revoked.")
            if time.monotonic() >= record.expires_at:
                raise LookupError("The authorization code has expired.")
            return record

    def start_grant(self, client_id: str, code: str) -> Grant:
        """Create the grant for a code being exchanged and mark the code spent."""
        with self.lock:
            grant = Grant(id=secrets.token_hex(16), client_id=client_id)
            self._grants[grant.id] = grant
            self._codes[code].grant_id = grant.id
            return grant

    def issue(self, grant: Grant, access_token: str, refresh_token: str | None) -> None:
        """Record tokens issued on ``grant``; a new refresh token supersedes the current one."""
        with self.lock:
            grant.access_expiry[access_token] = time.monotonic() + self.expires_in
            self._by_access[access_token] = grant
            self._issued[access_token] = None
            if refresh_token is None or refresh_token == grant.current_refresh_token:
                return
            if grant.current_refresh_token is not None:
                grant.superseded[grant.current_refresh_token] = time.monotonic()
            grant.current_refresh_token = refresh_token
            self._by_refresh[refresh_token] = grant
            self._issued[refresh_token] = None

    def refreshable_grant(self, refresh_token: str) -> Grant:
        """Return the grant a refresh token may refresh, else raise LookupError saying why.

        A superseded token works within the grace of ``rotate-grace`` and revokes the whole grant
        under ``rotate-revoke``.
        """
        with self.lock:
            grant = self._by_refresh.get(refresh_token)
            if grant is None:
                raise LookupError("The refresh token is unknown.")
            if grant.revoked:
                raise LookupError("The refresh token has been revoked.")
            if refresh_token == grant.current_refresh_token:
                return grant
            age = time.monotonic() - grant.superseded[refresh_token]
            if self.policy.name == "rotate-grace" and age <= self.policy.grace:
                return grant
            if self.policy.name == "rotate-revoke":
                self.revoke(grant)
                raise LookupError("The refresh token was already used; the grant is revoked.")
            raise LookupError("The refresh token has been rotated and is no longer valid.")

    def access_token_problem(self, access_token: str) -> str | None:
        """Return why an access token is unusable (unknown, revoked, expired), or None if it is good."""
        with self.lock:
            grant = self._by_access.get(access_token)
            if grant is None:
                return "The access token is unknown."
            if grant.revoked:
                return "The access token has been revoked."
            if time.monotonic() >= grant.access_expiry[access_token]:
                return "The access token has expired."
            return None

    def revoke(self, grant: Grant) -> None:
        """Revoke a grant: all its access and refresh tokens stop working."""
        with self.lock:
            grant.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired now."""
        with self.lock:
            now = time.monotonic()
            for grant in self._grants.values():
                grant.access_expiry = dict.fromkeys(grant.access_expiry, now)

    def current_refresh_token(self, token: str | None = None) -> str | None:
        """Return the current refresh token of the grant ``token`` belongs to, or of the only grant.

        Returns None when that grant is revoked.
        """
        with self.lock:
            if token is None:
                if len(self._grants) != 1:
                    raise LookupError(f"{len(self._grants)} grants exist: pass one of the grant's tokens")
                grant = next(iter(self._grants.values()))
            else:
                found = self._by_refresh.get(token) or self._by_access.get(token)
                if found is None:
                    raise LookupError("no grant issued that token")
                grant = found
            return None if grant.revoked else grant.current_refresh_token

    def snapshot(self) -> dict[str, object]:
        """Return the token part of the stats: every token issued and every grant."""
        with self.lock:
            return {
                "issued_tokens": list(self._issued),
                "grants": [
                    {"id": g.id, "current_refresh_token": g.current_refresh_token, "revoked": g.revoked}
                    for g in self._grants.values()
                ],
            }
