"""Refresh-token policies and access-token expiry."""

from __future__ import annotations

import threading

import pytest
import requests

from lockit_provider.sandbox import Sandbox

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def policy_client(sandbox_factory, client_for):
    """Return a factory: a client of a sandbox with the given refresh policy, and its first tokens."""

    def make(policy, **kwargs):
        client = client_for(sandbox_factory(auto_approve=True, refresh_policy=policy, **kwargs))
        return client, client.tokens()

    return make


def _refreshed(client, refresh_token):
    response = client.refresh(refresh_token)
    assert response.status_code == 200, response.text
    return response.json()


def _assert_invalid_grant(response):
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_static_repeats_the_same_refresh_token(policy_client):
    client, first = policy_client("static")
    second = _refreshed(client, first["refresh_token"])
    third = _refreshed(client, first["refresh_token"])
    assert second["refresh_token"] == third["refresh_token"] == first["refresh_token"]
    assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3
    assert client.sandbox.current_refresh_token() == first["refresh_token"]


def test_static_omit_leaves_the_refresh_token_out(policy_client):
    client, first = policy_client("static-omit")
    second = _refreshed(client, first["refresh_token"])
    assert sorted(second) == ["access_token", "expires_in", "token_type"]
    third = _refreshed(client, first["refresh_token"])  # the client keeps the old one
    assert client.api("/projects", third["access_token"]).status_code == 200


def test_rotate_rejects_the_old_refresh_token(policy_client):
    client, first = policy_client("rotate")
    second = _refreshed(client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert client.sandbox.current_refresh_token() == second["refresh_token"]
    _assert_invalid_grant(client.refresh(first["refresh_token"]))
    # A plain rotate does not punish the reuse: the new token and the access tokens keep working.
    assert client.api("/projects", second["access_token"]).status_code == 200
    _refreshed(client, second["refresh_token"])


def test_rotate_grace_accepts_the_old_token_for_a_while(sandbox_clock, policy_client):
    client, first = policy_client("rotate-grace:0.6")
    second = _refreshed(client, first["refresh_token"])
    again = _refreshed(client, first["refresh_token"])  # within the grace: a fresh pair
    assert again["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert client.sandbox.current_refresh_token() == again["refresh_token"]
    sandbox_clock.advance(0.7)
    _assert_invalid_grant(client.refresh(first["refresh_token"]))
    _refreshed(client, again["refresh_token"])


def test_rotate_revoke_reuse_revokes_the_whole_grant(policy_client):
    client, first = policy_client("rotate-revoke")
    second = _refreshed(client, first["refresh_token"])
    assert client.api("/projects", second["access_token"]).status_code == 200
    reuse = client.refresh(first["refresh_token"])
    _assert_invalid_grant(reuse)
    assert "revoked" in reuse.json()["error_description"]
    denied = client.api("/projects", second["access_token"])
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
    _assert_invalid_grant(client.refresh(second["refresh_token"]))
    assert client.sandbox.current_refresh_token(second["access_token"]) is None
    assert client.sandbox.stats()["grants"][0]["revoked"] is True


def test_concurrent_refreshes_with_one_token_under_rotate_succeed_once(policy_client):
    client, first = policy_client("rotate")
    statuses = []
    barrier = threading.Barrier(5)

    def refresh():
        barrier.wait()
        with requests.Session() as http:
            data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
            response = http.post(client.sandbox.token_url, data=data, auth=("lockit-client", "lockit-secret"))
            statuses.append(response.status_code)

    threads = [threading.Thread(target=refresh) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [200, 400, 400, 400, 400]


@pytest.mark.parametrize(
    "policy", ["rotate-grace", "rotate-grace:0", "rotate-grace:soon", "forever", "static:5", ""]
)
def test_invalid_policy_is_a_value_error(policy):
    with pytest.raises(ValueError, match="refresh policy must be one of"):
        Sandbox(refresh_policy=policy)


def test_access_token_expires_after_expires_in(sandbox_clock, policy_client):
    client, token = policy_client("rotate", expires_in=1)
    assert token["expires_in"] == 1
    assert client.api("/projects", token["access_token"]).status_code == 200
    sandbox_clock.advance(1.1)
    expired = client.api("/projects", token["access_token"])
    assert expired.status_code == 401
    assert expired.json()["error_description"] == "The access token has expired."
    # Refresh tokens do not expire.
    fresh = _refreshed(client, token["refresh_token"])
    assert client.api("/projects", fresh["access_token"]).status_code == 200


@pytest.mark.parametrize("how", ["method", "http"])
def test_expire_access_tokens_on_demand(client, how):
    token = client.tokens()
    if how == "method":
        client.sandbox.expire_access_tokens()
    else:
        assert client.http.post(client.sandbox.url + "/_sandbox/expire").status_code == 200
    assert client.api("/projects", token["access_token"]).status_code == 401
    fresh = _refreshed(client, token["refresh_token"])
    assert client.api("/projects", fresh["access_token"]).status_code == 200


def test_a_scope_on_refresh_is_ignored(client):
    token = client.tokens()
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "scope": "projects"}
    response = client.token_request(data)
    assert response.status_code == 200
    assert "scope" not in response.json()
