"""``airflow lockit authorize`` in loopback mode, with the demo playing the person's browser."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping

import requests

from lockit_provider.demo.airflow_components import airflow_bin

SECRET_ENV = "LOCKIT_DEMO_CLIENT_SECRET"  # noqa: S105 - the name of a variable, not a secret


def authorize(
    env: Mapping[str, str], conn_id: str, api_url: str, redirect_uri: str, client_id: str, secret: str
) -> str:
    """Run ``airflow lockit authorize`` and open the URL it prints; return its first output line.

    The sandbox approves at once and redirects to the command's loopback callback, as a browser
    would after the person clicked "Allow".
    """
    proc = subprocess.Popen(
        [
            *(airflow_bin(), "lockit", "authorize", "--conn-id", conn_id, "--client-id", client_id),
            *("--client-secret-env", SECRET_ENV, "--api-url", api_url, "--redirect-uri", redirect_uri),
            *("--no-browser", "--timeout", "60"),
        ],
        env={**env, SECRET_ENV: secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    browser: threading.Thread | None = None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if browser is None and line.startswith(("http://", "https://")) and "/oauth/authorize" in line:
            browser = threading.Thread(target=_open, args=(line.strip(),), daemon=True)
            browser.start()
    if proc.wait() != 0:
        shown = "\n".join(lines[-20:])
        raise SystemExit(f"demo: airflow lockit authorize failed ({proc.returncode}):\n{shown}")
    return next((line for line in lines if line.startswith("Authorized")), lines[-1] if lines else "")


def _open(url: str) -> None:
    requests.get(url, timeout=30)
