"""The authorization code grant against the sandbox, driven by requests-oauthlib."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote_plus, urlencode

import pytest
import requests

pytestmark = pytest.mark.timeout(30)

TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]{32,}$")
HIDDEN_INPUT = re.compile(r"<input type='hidden' name='([^']*)' value='([^']*)'>")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("pkce", [None, "S256"])
def test_code_flow_gives_tokens_that_open_the_api(client, pkce):
    session = client.oauth_session(pkce=pkce)
    response = client.authorize(session, state="state-1")
    params = client.location_params(response)
    assert response.headers["Location"].startswith(client.sandbox.config.redirect_uri + "?")
    assert params["state"] == "state-1"
    token = client.fetch_token(session, response.headers["Location"])
    # requests-oauthlib adds expires_at; the server sends exactly the vendor's four members.
    assert set(token) - {"expires_at"} == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 604800
    assert TOKEN_CHARS.match(token["access_token"]) and TOKEN_CHARS.match(token["refresh_token"])
    assert client.api("/projects", token["access_token"]).status_code == 200
    assert client.sandbox.stats()["token_requests"] == {"authorization_code": 1}


def test_token_response_is_exactly_the_vendor_json(client):
    response = client.exchange(client.code())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert sorted(response.json()) == ["access_token", "expires_in", "refresh_token", "token_type"]


def test_consent_page_approve_redirects_with_code(sandbox_factory, client_for):
    client = client_for(sandbox_factory(auto_approve=False))
    session = client.oauth_session(pkce="S256")
    page = client.authorize(session, state="state-2")
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "value='approve'" in page.text and "value='deny'" in page.text
    form = dict(HIDDEN_INPUT.findall(page.text))
    assert form["state"] == "state-2" and form["code_challenge_method"] == "S256"
    response = client.http.post(
        client.sandbox.authorize_url, data={**form, "decision": "approve"}, allow_redirects=False
    )
    assert client.location_params(response)["state"] == "state-2"
    token = client.fetch_token(session, response.headers["Location"])
    assert client.api("/projects", token["access_token"]).status_code == 200


def test_consent_page_deny_redirects_with_access_denied(sandbox_factory, client_for):
    client = client_for(sandbox_factory())
    session = client.oauth_session()
    form = dict(HIDDEN_INPUT.findall(client.authorize(session, state="state-3").text))
    response = client.http.post(
        client.sandbox.authorize_url, data={**form, "decision": "deny"}, allow_redirects=False
    )
    params = client.location_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "state-3"
    assert "code" not in params


def test_replayed_code_is_rejected_and_revokes_its_tokens(client):
    code = client.code()
    first = client.exchange(code).json()
    replay = client.exchange(code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "already used" in replay.json()["error_description"]
    assert client.api("/projects", first["access_token"]).status_code == 401
    assert client.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert client.sandbox.stats()["grants"][0]["revoked"] is True


def test_pkce_verifier_mismatch_is_invalid_grant(client):
    session = client.oauth_session(pkce="S256")
    code = client.code(session)
    response = client.exchange(code, code_verifier="x" * 50)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    missing = client.exchange(code)
    assert missing.json()["error"] == "invalid_request"  # the challenge was sent, the verifier is required


@pytest.mark.parametrize("method", [{"code_challenge_method": "plain"}, {}])
def test_plain_pkce_is_rejected_with_invalid_request(client, method):
    query = {
        "response_type": "code",
        "client_id": "lockit-client",
        "redirect_uri": client.sandbox.config.redirect_uri,
        "state": "st4te",
        "code_challenge": "a" * 43,
        **method,
    }
    response = client.http.get(f"{client.sandbox.authorize_url}?{urlencode(query)}", allow_redirects=False)
    params = client.location_params(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == "st4te"
    assert "code" not in params


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(_basic("lockit-client", "wrong"), id="wrong-secret"),
        pytest.param(_basic("someone-else", "lockit-secret"), id="wrong-client"),
        pytest.param({}, id="no-basic-header"),
        pytest.param({"Authorization": "Basic !!notbase64"}, id="garbled-header"),
    ],
)
def test_bad_client_authentication_is_401_invalid_client(client, headers):
    data = {
        "grant_type": "authorization_code",
        "code": client.code(),
        "redirect_uri": client.sandbox.config.redirect_uri,
    }
    # Credentials in the body do not count: the vendor documents HTTP Basic only.
    data.update(client_id="lockit-client", client_secret="lockit-secret")
    response = requests.post(client.sandbox.token_url, data=data, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.sandbox.stats()["invalid_client"] == 1


@pytest.mark.parametrize("encode", [quote_plus, str], ids=["form-encoded", "raw"])
def test_client_secret_with_special_characters(sandbox_factory, client_for, encode):
    secret = "s3cr+t/=:%"
    client = client_for(sandbox_factory(auto_approve=True, client_secret=secret), secret=secret)
    data = {
        "grant_type": "authorization_code",
        "code": client.code(),
        "redirect_uri": client.sandbox.config.redirect_uri,
    }
    response = requests.post(
        client.sandbox.token_url, data=data, headers=_basic("lockit-client", encode(secret))
    )
    assert response.status_code == 200, response.text
    assert "access_token" in response.json()


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(client):
    response = client.authorize(client.oauth_session(redirect_uri="https://attacker.example/cb"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


def test_unknown_client_id_gets_an_error_page(client):
    query = urlencode(
        {"response_type": "code", "client_id": "nobody", "redirect_uri": client.sandbox.config.redirect_uri}
    )
    response = client.http.get(f"{client.sandbox.authorize_url}?{query}", allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_token_request_redirect_uri_must_match_the_authorization_request(client):
    response = client.exchange(client.code(), redirect_uri="http://127.0.0.1:8765/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("any_port", [True, False])
def test_loopback_redirect_uri_port(sandbox_factory, client_for, any_port):
    client = client_for(sandbox_factory(auto_approve=True, loopback_any_port=any_port))
    other_port = "http://127.0.0.1:50123/callback"
    response = client.authorize(client.oauth_session(redirect_uri=other_port))
    if not any_port:
        assert response.status_code == 400
        return
    assert response.headers["Location"].startswith(other_port + "?")
    code = client.location_params(response)["code"]
    assert client.exchange(code, redirect_uri=other_port).status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:50123/elsewhere",
        "http://localhost:50123/callback",
        "https://127.0.0.1:50123/callback",
    ],
)
def test_loopback_any_port_still_requires_host_scheme_and_path(sandbox_factory, client_for, redirect_uri):
    client = client_for(sandbox_factory(auto_approve=True, loopback_any_port=True))
    assert client.authorize(client.oauth_session(redirect_uri=redirect_uri)).status_code == 400


def test_code_expires_after_code_ttl(sandbox_clock, sandbox_factory, client_for):
    client = client_for(sandbox_factory(auto_approve=True, code_ttl=1))
    code = client.code()
    sandbox_clock.advance(1.1)
    response = client.exchange(code)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired.",
    }


def test_unsupported_grant_type(client):
    response = client.token_request({"grant_type": "password", "username": "u", "password": "p"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
