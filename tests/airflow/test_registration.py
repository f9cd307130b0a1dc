"""The provider registers with Airflow: CLI start-up, providers list, the UI's connection form."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.airflow_env import AIRFLOW_BIN
from tests.support.connections import free_port
from tests.support.waiting import wait_for


def run_airflow(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW_BIN, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_airflow_version_starts_with_provider_installed() -> None:
    result = run_airflow("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("3.")


def test_providers_list_shows_the_provider() -> None:
    result = run_airflow("providers", "list", "--output", "json")
    assert result.returncode == 0, result.stderr
    providers = {p["package_name"]: p for p in json.loads(result.stdout)}
    assert "airflow-provider-lockit" in providers
    assert providers["airflow-provider-lockit"]["version"] == "0.1.0"


def test_lockit_cli_group_is_registered() -> None:
    result = run_airflow("lockit", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("authorize", "status", "refresh"):
        assert command in result.stdout


@pytest.fixture(scope="module")
def api_server(airflow_db: object) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AIRFLOW__API__PORT": str(port), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    proc = subprocess.Popen(
        [AIRFLOW_BIN, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, "airflow api-server exited during start-up"
        try:
            return requests.get(f"{base}/api/v2/version", timeout=30).ok
        except requests.RequestException:
            return False

    try:
        wait_for(answers, "airflow api-server to answer", interval=0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_ui_hook_meta_renders_the_lockit_form(api_server: str) -> None:
    meta = requests.get(f"{api_server}/ui/connections/hook_meta", timeout=120).json()
    (lockit,) = [m for m in meta if m["connection_type"] == "lockit"]
    assert lockit["hook_class_name"] == "lockit_provider.hooks.lockit.LockitHook"
    fields = lockit["standard_fields"]
    assert fields["host"] == {
        "hidden": False,
        "title": "API base URL",
        "placeholder": "https://api.lockitnetwork.com",
    }
    assert fields["login"]["title"] == "Client ID"
    assert fields["password"]["title"] == "Client Secret"
    assert fields["port"]["hidden"] is True
    assert fields["url_schema"]["hidden"] is True
    extras = lockit["extra_fields"]
    assert extras["use_pkce"]["value"] is True
    assert extras["redirect_uri"]["schema"]["title"] == "Redirect URI"
    for name in ("authorize_url", "token_url", "timeout", "ca_bundle"):
        assert name in extras
    for secret in ("access_token", "refresh_token"):
        assert extras[secret]["schema"]["format"] == "password"


def _ui_test(api_server: str, sandbox, extra: dict) -> dict:
    body = {
        "connection_id": "lockit_from_the_form",
        "conn_type": "lockit",
        "host": sandbox.url,
        "login": "lockit-client",
        "password": "lockit-secret",
        "extra": json.dumps(extra),
    }
    response = requests.post(f"{api_server}/api/v2/connections/test", json=body, timeout=120)
    response.raise_for_status()
    return dict(response.json())


def test_ui_test_button_calls_the_api_and_never_refreshes(api_server, sandbox_factory):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy="rotate-revoke")
    tokens = sandbox.issue_tokens()
    extra = {k: tokens[k] for k in ("access_token", "refresh_token")} | {"expires_at": int(time.time()) + 600}

    def token_variables() -> set[str]:
        variables = requests.get(f"{api_server}/api/v2/variables", params={"limit": 1000}, timeout=120).json()
        return {v["key"] for v in variables["variables"] if v["key"].startswith("lockit_token__")}

    before = token_variables()
    ok = _ui_test(api_server, sandbox, extra)
    assert ok == {"status": True, "message": "Connected: 3 project(s) visible."}

    sandbox.expire_access_tokens()
    expired = _ui_test(api_server, sandbox, extra)
    assert expired["status"] is False
    assert "rejected" in expired["message"]
    stats = sandbox.stats()
    assert stats["token_requests"].get("refresh_token", 0) == 0  # nothing spent in the API server
    assert token_variables() == before  # no token store written for the transient conn id
    for token in stats["issued_tokens"]:
        assert token not in json.dumps([ok, expired])

    unauthorized = _ui_test(api_server, sandbox, {})
    assert unauthorized["status"] is False
    assert "airflow lockit authorize" in unauthorized["message"]
