"""The open authorization request of a connection, kept on disk so ``--redirect-url`` can finish it.

A redirect is accepted only with the ``state`` of a request this host started; a paste-mode run saves
that state (and the PKCE verifier) here, owner-only, until it is redeemed or ``--timeout`` passes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lockit_provider.oauth.client import AuthorizationRequest
from lockit_provider.oauth.files import safe_filename, write_private_file
from lockit_provider.settings import LockitSettings


@dataclass(frozen=True)
class PendingAuthorization:
    """What a later run needs to check and redeem the redirect of an earlier one."""

    redirect_uri: str
    state: str
    code_verifier: str | None
    expires_at: float

    def __repr__(self) -> str:
        return f"PendingAuthorization(redirect_uri={self.redirect_uri!r}, expires_at={self.expires_at!r})"


def _path(settings: LockitSettings) -> Path:
    return settings.state_dir / "pending" / f"{safe_filename(settings.conn_id)}.json"


def save_pending(settings: LockitSettings, request: AuthorizationRequest, lifetime: float) -> None:
    """Remember ``request`` as the connection's one open request (replacing an older one)."""
    pending = PendingAuthorization(
        redirect_uri=settings.redirect_uri,
        state=request.state,
        code_verifier=request.code_verifier,
        expires_at=time.time() + lifetime,
    )
    write_private_file(_path(settings), json.dumps(asdict(pending)).encode("utf-8"))


def load_pending(settings: LockitSettings) -> PendingAuthorization | None:
    """Return the connection's open request, or None when there is none or it expired."""
    path = _path(settings)
    try:
        pending = PendingAuthorization(**json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (TypeError, ValueError):
        path.unlink(missing_ok=True)  # damaged or from another version: it can never be redeemed
        return None
    if pending.expires_at <= time.time():
        path.unlink(missing_ok=True)
        return None
    return pending


def discard_pending(settings: LockitSettings) -> None:
    """Forget the connection's open request (after it was redeemed)."""
    _path(settings).unlink(missing_ok=True)
