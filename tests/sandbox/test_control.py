"""The control surface: stats, reset, issue_tokens and current_refresh_token."""

from __future__ import annotations

import pytest
import requests

from lockit_provider.sandbox import Sandbox

pytestmark = pytest.mark.timeout(30)


def test_stats_count_what_happened(client):
    first = client.tokens()
    second = client.refresh(first["refresh_token"]).json()
    assert client.refresh(first["refresh_token"]).status_code == 400  # rotated away
    wrong_secret = client.token_request(
        {"grant_type": "refresh_token", "refresh_token": "x"}, auth=("lockit-client", "no")
    )
    assert wrong_secret.status_code == 401
    client.api("/projects", second["access_token"])
    client.api("/projects", first["access_token"])  # still valid until it expires
    client.api("/projects", None)
    stats = requests.get(client.sandbox.url + "/_sandbox/stats").json()
    assert stats == client.sandbox.stats()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 3}
    assert stats["invalid_grant"] == 1
    assert stats["invalid_client"] == 1
    assert stats["api_requests"] == {"200": 2, "401": 1}
    assert stats["query_token_requests"] == 0
    assert stats["issued_tokens"] == [
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
    ]
    assert stats["grants"] == [
        {"id": stats["grants"][0]["id"], "current_refresh_token": second["refresh_token"], "revoked": False}
    ]


def test_reset_clears_counters_and_faults_but_keeps_grants(client):
    token = client.tokens()
    client.sandbox.add_fault(target="api", status=500)
    assert client.http.post(client.sandbox.url + "/_sandbox/reset").status_code == 200
    stats = client.sandbox.stats()
    assert stats["token_requests"] == {} and stats["faults"] == [] and stats["api_requests"] == {}
    assert len(stats["grants"]) == 1 and token["access_token"] in stats["issued_tokens"]
    assert client.api("/projects", token["access_token"]).status_code == 200


def test_issue_tokens_runs_a_grant_in_process(sandbox_factory, client_for):
    sandbox = sandbox_factory()  # no auto-approve needed
    token = sandbox.issue_tokens()
    assert sorted(token) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert sandbox.current_refresh_token() == token["refresh_token"]
    assert sandbox.current_refresh_token(token["access_token"]) == token["refresh_token"]
    assert client_for(sandbox).api("/projects", token["access_token"]).status_code == 200
    assert sandbox.stats()["token_requests"] == {}  # only HTTP requests are counted


def test_issue_tokens_over_http(sandbox):
    token = requests.post(sandbox.url + "/_sandbox/issue-tokens").json()
    assert sandbox.current_refresh_token() == token["refresh_token"]


def test_current_refresh_token_needs_a_token_when_there_are_several_grants(sandbox):
    first, second = sandbox.issue_tokens(), sandbox.issue_tokens()
    with pytest.raises(LookupError, match="2 grants"):
        sandbox.current_refresh_token()
    assert sandbox.current_refresh_token(second["refresh_token"]) == second["refresh_token"]
    assert sandbox.current_refresh_token(first["access_token"]) == first["refresh_token"]


def test_unknown_control_route_is_404(sandbox):
    assert requests.get(sandbox.url + "/_sandbox/nothing").status_code == 404


def test_url_needs_a_started_sandbox():
    with pytest.raises(RuntimeError, match="start"):
        _ = Sandbox().url
    with Sandbox() as sandbox:
        url = sandbox.url
        assert url.startswith("http://127.0.0.1:") and not url.endswith("/")
        assert sandbox.token_url == url + "/oauth/access-token"
        assert sandbox.authorize_url == url + "/oauth/authorize"
        assert sandbox.ca_cert_path is None
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_sandbox/stats", timeout=2)
