"""What a sandbox counted and issued, read through its stats (an in-process Sandbox or a SandboxProcess)."""

from __future__ import annotations

from typing import Any, Protocol


class HasStats(Protocol):
    """Anything that reports the sandbox's ``/_sandbox/stats``."""

    def stats(self) -> dict[str, Any]: ...


def refresh_count(sandbox: HasStats) -> int:
    """Return how many refresh_token grants reached the sandbox."""
    return int(sandbox.stats()["token_requests"].get("refresh_token", 0))


def api_count(sandbox: HasStats, status: str) -> int:
    """Return how many API answers the sandbox gave with ``status`` (or ``"dropped"``)."""
    return int(sandbox.stats()["api_requests"].get(status, 0))


def issued_tokens(sandbox: HasStats) -> list[str]:
    """Return every token the sandbox ever issued."""
    return [str(token) for token in sandbox.stats()["issued_tokens"]]
