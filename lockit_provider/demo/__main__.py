"""Walk the whole provider against the embedded sandbox: ``python -m lockit_provider.demo``.

It starts the sandbox (rotating refresh tokens, reuse revokes the grant), authorizes a connection
with ``airflow lockit authorize`` (playing the browser itself), calls the API through LockitHook,
forces a refresh, and shows ``airflow lockit status``. Everything lives in ``.demo/`` (or
``$LOCKIT_DEMO_HOME``); running it again reuses that Airflow home.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CONN_ID = "lockit_demo"
SECRET_ENV = "LOCKIT_DEMO_CLIENT_SECRET"  # noqa: S105 - the name of a variable, not a secret


def main() -> int:
    """Run the demo and return the process exit code."""
    home = Path(os.environ.get("LOCKIT_DEMO_HOME", ".demo")).resolve()
    airflow_home = home / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "LOCKIT_STATE_DIR": str(home / "lockit"),
    }
    os.environ.update(
        {k: env[k] for k in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES", "LOCKIT_STATE_DIR")}
    )
    # A plain process reads connections from the metadata DB only in Airflow's "server" context
    # (as Airflow's own CLI commands do); tasks get theirs through the Execution API instead.
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"

    from lockit_provider.sandbox import Sandbox

    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    with Sandbox(auto_approve=True, refresh_policy="rotate-revoke", redirect_uri=redirect_uri) as sandbox:
        _say(f"sandbox at {sandbox.url} (refresh tokens rotate; reusing one revokes the grant)")
        _airflow(env, "db", "migrate", quiet=True)
        _authorize(env, sandbox.url, redirect_uri, sandbox.config.client_secret)
        _airflow(env, "lockit", "status", "--conn-id", CONN_ID)
        _use_the_hook(sandbox)
        _airflow(env, "lockit", "status", "--conn-id", CONN_ID)
        stats = sandbox.stats()
        _say(
            f"sandbox saw {stats['token_requests']} token requests, {stats['invalid_grant']} invalid_grant, "
            f"API answers {stats['api_requests']}"
        )
    _say("demo finished")
    return 0


def _authorize(env: dict[str, str], api_url: str, redirect_uri: str, secret: str) -> None:
    """Run ``airflow lockit authorize`` and follow the URL it prints, as a browser would."""
    import requests

    _say("airflow lockit authorize (the demo plays the browser)")
    proc = subprocess.Popen(
        [
            *(_airflow_bin(), "lockit", "authorize", "--conn-id", CONN_ID, "--client-id", "lockit-client"),
            *("--client-secret-env", SECRET_ENV, "--api-url", api_url, "--redirect-uri", redirect_uri),
            *("--no-browser", "--timeout", "60"),
        ],
        env={**env, SECRET_ENV: secret},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    browser: threading.Thread | None = None
    for line in proc.stdout:
        print(f"    {line}", end="", flush=True)
        if browser is None and line.startswith(("http://", "https://")) and "/oauth/authorize" in line:
            url = line.strip()
            browser = threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 30}, daemon=True)
            browser.start()
    if proc.wait() != 0:
        raise SystemExit(f"demo: airflow lockit authorize failed with exit code {proc.returncode}")


def _use_the_hook(sandbox: Any) -> None:
    """Call the API through LockitHook, then make the server expire the token to show a refresh."""
    from lockit_provider.hooks.lockit import LockitHook

    hook = LockitHook(lockit_conn_id=CONN_ID)
    projects = hook.get_projects()
    _say(f"LockitHook: {len(projects)} projects")
    for project in projects:
        premium = "premium" if project["isPremium"] else "not premium"
        print(f"    {project['uuid']}  {project['name']:<24} {premium}")
    sandbox.expire_access_tokens()
    _say("the sandbox expired the access token early; the next call refreshes once and retries")
    _say(f"LockitHook: still {len(LockitHook(lockit_conn_id=CONN_ID).get_projects())} projects")


def _airflow(env: dict[str, str], *args: str, quiet: bool = False) -> None:
    _say("airflow " + " ".join(args))
    result = subprocess.run([_airflow_bin(), *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"demo: airflow {' '.join(args)} failed with exit code {result.returncode}")
    if not quiet:
        print("".join(f"    {line}\n" for line in result.stdout.splitlines()), end="")


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(text: str) -> None:
    print(f"== {text}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
