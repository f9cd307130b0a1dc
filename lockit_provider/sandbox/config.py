"""Sandbox settings: the registered client, token lifetimes and the refresh-token policy."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

POLICY_NAMES = ("static", "static-omit", "rotate", "rotate-grace:SECONDS", "rotate-revoke")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class RefreshPolicy:
    """What the token endpoint does with refresh tokens (the real server's choice is unknown)."""

    name: str
    grace: float = 0.0

    @classmethod
    def parse(cls, text: str) -> RefreshPolicy:
        """Parse ``static``, ``static-omit``, ``rotate``, ``rotate-grace:SECONDS`` or ``rotate-revoke``."""
        name, _, grace_text = text.partition(":")
        if name == "rotate-grace" and grace_text:
            try:
                grace = float(grace_text)
            except ValueError:
                grace = -1.0
            if grace > 0:
                return cls(name, grace)
        elif not grace_text and name in ("static", "static-omit", "rotate", "rotate-revoke"):
            return cls(name)
        raise ValueError(f"refresh policy must be one of {', '.join(POLICY_NAMES)}; got {text!r}")

    @property
    def rotates(self) -> bool:
        """Return whether each refresh issues a new refresh token."""
        return self.name.startswith("rotate")

    @property
    def omits_refresh_token(self) -> bool:
        """Return whether refresh responses leave out the (unchanged) refresh token."""
        return self.name == "static-omit"

    def __str__(self) -> str:
        return f"{self.name}:{self.grace:g}" if self.name == "rotate-grace" else self.name


def check_redirect_uri(uri: str) -> str:
    """Return ``uri`` if it is an absolute http(s) URL without a fragment, else raise ValueError."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError(f"redirect URI must be an absolute http(s) URL without a fragment; got {uri!r}")
    return uri


@dataclass(frozen=True)
class ClientConfig:
    """The one registered OAuth client and the server's token rules."""

    client_id: str
    client_secret: str
    redirect_uri: str
    policy: RefreshPolicy
    expires_in: int
    code_ttl: float
    auto_approve: bool
    loopback_any_port: bool

    def __post_init__(self) -> None:
        check_redirect_uri(self.redirect_uri)
        if self.expires_in <= 0:
            raise ValueError(f"expires_in must be positive; got {self.expires_in!r}")
        if self.code_ttl <= 0:
            raise ValueError(f"code_ttl must be positive; got {self.code_ttl!r}")

    def redirect_uri_allowed(self, uri: str) -> bool:
        """Return whether ``uri`` may be used as redirect URI (RFC 8252 7.3 when loopback_any_port)."""
        if uri == self.redirect_uri:
            return True
        if not self.loopback_any_port:
            return False
        registered, asked = urlsplit(self.redirect_uri), urlsplit(uri)
        try:
            asked.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            return False
        return (
            registered.hostname is not None
            and registered.hostname in LOOPBACK_HOSTS
            and asked.hostname == registered.hostname
            and (asked.scheme, asked.path, asked.query, asked.fragment)
            == (registered.scheme, registered.path, registered.query, "")
            and asked.username is None
        )
