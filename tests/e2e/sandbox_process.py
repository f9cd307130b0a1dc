"""The sandbox as a separate process, as a real deployment would see LockitNetwork."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import requests


class SandboxProcess:
    """Run ``python -m lockit_provider.sandbox`` and steer it through ``/_sandbox/``."""

    def __init__(self, *flags: str) -> None:
        self.flags = flags
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SandboxProcess:
        """Start the process and wait for its ``LOCKIT_SANDBOX_URL=`` line."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lockit_provider.sandbox", "--port", "0", *self.flags],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("LOCKIT_SANDBOX_URL="):
                self.url = line.strip().split("=", 1)[1]
                return self
        raise RuntimeError(f"sandbox exited with {self._proc.wait()} before printing its URL")

    def stop(self) -> None:
        """Stop the process."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, method: str, name: str, **kwargs: Any) -> Any:
        """Call a ``/_sandbox/<name>`` control route and return its JSON."""
        response = requests.request(method, f"{self.url}/_sandbox/{name}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        """Return the sandbox's counters and every token it issued."""
        return dict(self.control("GET", "stats"))

    def issue_tokens(self) -> dict[str, Any]:
        """Run a whole authorization-code grant inside the sandbox and return the token response."""
        return dict(self.control("POST", "issue-tokens"))
