"""An embedded LockitNetwork stand-in for tests, demos and benchmarks: ``Sandbox``.

Importing this package is cheap; ``Sandbox`` (and with it oauthlib) loads on first use.
The sandbox never imports Airflow or requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockit_provider.sandbox.server import Sandbox

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from lockit_provider.sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
