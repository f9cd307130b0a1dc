"""OAuthClient against the sandbox over real HTTP: URLs, exchanges, refreshes and error classes."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from email.utils import formatdate
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests

from lockit_provider.exceptions import (
    InvalidClientError,
    InvalidGrantError,
    LockitConfigError,
    LockitError,
    LockitTokenEndpointError,
    OAuthProtocolError,
    TokenResponseError,
)
from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
from tests.support.oauth import issued_record, make_client, make_config, offline_record, recording_session

pytestmark = pytest.mark.timeout(60)

POLICIES = ["static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke"]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def authorize(client: OAuthClient, *, use_verifier: bool = True):
    """Play the browser: follow the authorization URL to the redirect and exchange the code."""
    request = client.authorization_request()
    answer = requests.get(request.url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    code = client.code_from_redirect(answer.headers["Location"], state=request.state)
    return client.exchange_code(code, code_verifier=request.code_verifier if use_verifier else None)


# --- configuration ---------------------------------------------------------------------------


def config(**overrides) -> OAuthClientConfig:
    settings = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": "https://api.lockitnetwork.com/oauth/authorize",
        "token_url": "https://api.lockitnetwork.com/oauth/access-token",
        "redirect_uri": REDIRECT_URI,
        **overrides,
    }
    return OAuthClientConfig(**settings)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"client_id": ""},
            "client_id",
            "Connection field 'login' (Client ID) is empty: set it in the connection",
        ),
        ({"client_secret": ""}, "client_secret", "Connection field 'password' (Client Secret) is empty"),
        (
            {"token_url": "api.lockitnetwork.com/token"},
            "token_url",
            "extra 'token_url' (or the API base URL in 'host') must be an absolute https:// URL",
        ),
        ({"token_url": "http://api.lockitnetwork.com/t"}, "token_url", "only accepted on 127.0.0.1"),
        ({"authorize_url": "ftp://127.0.0.1/a"}, "authorize_url", "extra 'authorize_url'"),
        ({"redirect_uri": "/callback"}, "redirect_uri", "extra 'redirect_uri'"),
        ({"client_auth": "basic"}, "client_auth", "'form' or 'raw'"),
        ({"timeout": 0}, "timeout", "positive number of seconds"),
        ({"verify": "/no/such/ca.pem"}, "verify", "extra 'ca_bundle'"),
    ],
)
def test_config_validation_names_the_connection_field(overrides, field, message):
    with pytest.raises(LockitConfigError) as caught:
        config(**overrides)
    assert message in str(caught.value)
    assert caught.value.field == field


def test_config_accepts_https_and_loopback_http_and_hides_the_secret():
    assert config().token_url.startswith("https://")
    assert (
        config(token_url="http://127.0.0.1:9/t", authorize_url="http://localhost:9/a").client_auth == "form"
    )
    assert CLIENT_SECRET not in repr(config())


# --- authorization URL and code exchange -----------------------------------------------------


def test_authorization_url_has_fresh_state_and_s256_challenge_and_no_scope():
    client = OAuthClient(config())
    first, second = client.authorization_request(), client.authorization_request()
    params = query(first.url)
    assert first.url.startswith("https://api.lockitnetwork.com/oauth/authorize?")
    assert params["response_type"] == ["code"] and params["client_id"] == [CLIENT_ID]
    assert params["redirect_uri"] == [REDIRECT_URI]
    assert params["state"] == [first.state] and len(first.state) >= 30
    assert params["code_challenge_method"] == ["S256"]
    digest = hashlib.sha256(first.code_verifier.encode("ascii")).digest()
    assert params["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert "scope" not in params and "plain" not in first.url
    assert first.state != second.state and first.code_verifier != second.code_verifier
    assert first.state not in repr(first).replace(first.url, "")


def test_authorization_url_without_pkce_has_no_challenge():
    request = OAuthClient(config(use_pkce=False)).authorization_request()
    assert request.code_verifier is None
    assert "code_challenge" not in query(request.url) and "state" in query(request.url)


def test_code_from_redirect_checks_state_and_reports_errors():
    client = OAuthClient(config())
    assert client.code_from_redirect(f"{REDIRECT_URI}?code=abc&state=s1", state="s1") == "abc"
    with pytest.raises(LockitError, match="state does not match"):
        client.code_from_redirect(f"{REDIRECT_URI}?code=abc&state=forged", state="s1")
    with pytest.raises(OAuthProtocolError, match="access_denied") as caught:
        client.code_from_redirect(f"{REDIRECT_URI}?error=access_denied&state=s1", state="s1")
    assert caught.value.error == "access_denied"
    with pytest.raises(LockitError, match="no authorization code"):
        client.code_from_redirect(f"{REDIRECT_URI}?state=s1", state="s1")


@pytest.mark.parametrize("use_pkce", [True, False])
def test_code_exchange_with_and_without_pkce(sandbox, use_pkce):
    session, adapter = recording_session()
    record = authorize(make_client(sandbox, session, use_pkce=use_pkce))
    assert record.generation == 1 and record.refresh_token and record.token_type == "Bearer"
    assert 604790 < record.expires_at - time.time() <= 604800
    assert requests.get(
        f"{sandbox.url}/projects", headers={"Authorization": f"Bearer {record.access_token}"}
    ).ok
    token_request = adapter.exchanges[-1][0]
    body = parse_qs(token_request.body)
    assert body["grant_type"] == ["authorization_code"] and "client_id" not in body
    assert ("code_verifier" in body) is use_pkce


def test_code_exchange_with_the_wrong_verifier_is_invalid_grant(sandbox):
    client = make_client(sandbox)
    request = client.authorization_request()
    answer = requests.get(request.url, allow_redirects=False, timeout=5)
    code = client.code_from_redirect(answer.headers["Location"], state=request.state)
    with pytest.raises(InvalidGrantError) as caught:
        client.exchange_code(code, code_verifier="x" * 64)
    assert caught.value.error == "invalid_grant" and caught.value.status == 400
    assert code not in str(caught.value)


# --- refresh -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_refresh_for_every_policy(sandbox_factory, policy):
    sandbox = sandbox_factory(auto_approve=True, refresh_policy=policy)
    session, adapter = recording_session()
    client = make_client(sandbox, session)
    first = authorize(client)
    second = client.refresh(first)
    assert second.generation == 2 and second.access_token != first.access_token
    assert second.refresh_token == sandbox.current_refresh_token()
    rotates = policy.startswith("rotate")
    assert (second.refresh_token != first.refresh_token) is rotates
    refresh_request, refresh_response = adapter.exchanges[-1]
    assert parse_qs(refresh_request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [first.refresh_token],
    }
    # static-omit leaves refresh_token out of the response; the record keeps the old one.
    assert ("refresh_token" in refresh_response.json()) is (policy != "static-omit")
    assert requests.get(
        f"{sandbox.url}/projects", headers={"Authorization": f"Bearer {second.access_token}"}
    ).ok


@pytest.mark.parametrize("client_auth", ["form", "raw"])
def test_client_credentials_form_encoded_or_raw_in_basic_auth(sandbox_factory, client_auth):
    client_id, secret = "lockit client", "s3cr+t/with=odd:chars%"
    sandbox = sandbox_factory(auto_approve=True, client_id=client_id, client_secret=secret)
    session, adapter = recording_session()
    client = make_client(sandbox, session, client_id=client_id, client_secret=secret, client_auth=client_auth)
    record = client.refresh(issued_record(sandbox))
    assert record.generation == 2
    request = adapter.exchanges[-1][0]
    user_pass = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
    if client_auth == "form":
        assert (
            user_pass
            == f"{quote_plus(client_id)}:{quote_plus(secret)}"
            == "lockit+client:s3cr%2Bt%2Fwith%3Dodd%3Achars%25"
        )
    else:
        assert user_pass == f"{client_id}:{secret}"
    assert "client_id" not in parse_qs(request.body) and "client_secret" not in parse_qs(request.body)


def test_wrong_client_secret_is_invalid_client(sandbox):
    client = make_client(sandbox, client_secret="not-the-secret")
    with pytest.raises(InvalidClientError) as caught:
        client.refresh(issued_record(sandbox))
    assert caught.value.status == 401
    assert "not-the-secret" not in str(caught.value)


def test_reused_rotated_refresh_token_is_invalid_grant(sandbox):
    client = make_client(sandbox)
    first = issued_record(sandbox)
    client.refresh(first)
    with pytest.raises(InvalidGrantError, match="invalid_grant") as caught:
        client.refresh(first)
    assert first.refresh_token not in str(caught.value)


# --- error classification --------------------------------------------------------------------

TRANSIENT_FAULTS = {
    "503 html": ({"status": 503, "body": "<html><body>Service Unavailable</body></html>"}, 503),
    "502 json error": ({"status": 502}, 502),
    "429 retry-after": ({"status": 429, "headers": {"Retry-After": "7"}}, 429),
    "malformed json": ({"malformed": True}, 200),
    "html with 200": ({"status": 200, "body": "<html>login page</html>"}, 200),
    "delay beyond timeout": ({"delay": 2.0}, None),
    "dropped connection": ({"drop": True}, None),
}


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS, ids=list(TRANSIENT_FAULTS))
def test_transient_failures_are_token_endpoint_errors(sandbox, fault):
    settings, status = TRANSIENT_FAULTS[fault]
    client = make_client(sandbox, timeout=0.5)
    record = issued_record(sandbox)
    sandbox.add_fault(target="token", **settings)
    with pytest.raises(LockitTokenEndpointError) as caught:
        client.refresh(record)
    assert caught.value.status == status
    assert record.refresh_token not in str(caught.value) and "<html>" not in str(caught.value)
    if fault == "429 retry-after":
        assert caught.value.retry_after == 7


def test_retry_after_as_http_date(sandbox):
    sandbox.add_fault(
        target="token", status=429, headers={"Retry-After": formatdate(time.time() + 60, usegmt=True)}
    )
    with pytest.raises(LockitTokenEndpointError) as caught:
        make_client(sandbox).refresh(issued_record(sandbox))
    assert 55 <= caught.value.retry_after <= 61


def test_other_oauth_errors_keep_their_code_and_scrub_token_like_text(sandbox):
    record = issued_record(sandbox)
    body = f'{{"error": "unsupported_grant_type", "error_description": "bad grant {record.refresh_token}"}}'
    sandbox.add_fault(target="token", status=400, body=body)
    with pytest.raises(OAuthProtocolError) as caught:
        make_client(sandbox).refresh(record)
    assert type(caught.value) is OAuthProtocolError
    assert caught.value.error == "unsupported_grant_type" and caught.value.status == 400
    assert record.refresh_token not in str(caught.value) and "[redacted]" in str(caught.value)
    assert "bad grant" in caught.value.description


def test_401_without_a_json_body_is_invalid_client(sandbox):
    sandbox.add_fault(target="token", status=401, body="<html>Unauthorized</html>")
    with pytest.raises(
        InvalidClientError, match=r"Client ID \(field 'login'\) and Client Secret \(field 'password'\)"
    ):
        make_client(sandbox).refresh(issued_record(sandbox))


def test_404_html_is_a_response_error_pointing_at_the_token_url(sandbox):
    sandbox.add_fault(target="token", status=404, body="<html>Not Found</html>")
    with pytest.raises(TokenResponseError, match=r"HTTP 404.*check the token URL"):
        make_client(sandbox).refresh(issued_record(sandbox))


def test_success_without_access_token_is_a_response_error(sandbox):
    sandbox.add_fault(target="token", status=200, body='{"token_type": "Bearer", "expires_in": 60}')
    with pytest.raises(TokenResponseError, match="'access_token'"):
        make_client(sandbox).refresh(issued_record(sandbox))


def test_unreachable_endpoint_is_transient():
    client = OAuthClient(config(token_url="http://127.0.0.1:9/oauth/access-token", timeout=2))
    with pytest.raises(LockitTokenEndpointError, match="could not be reached"):
        client.refresh(offline_record())


def test_plain_http_on_loopback_needs_no_process_wide_switch(sandbox, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    client = make_client(sandbox)
    request = client.authorization_request()
    assert request.url.startswith(sandbox.authorize_url + "?")
    assert client.refresh(issued_record(sandbox)).generation == 2
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ


@pytest.mark.parametrize("host", ["example.com", "127.0.0.2", "localhost.example.com", "[::2]"])
def test_plain_http_to_any_other_host_is_refused(host, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    with pytest.raises(
        LockitConfigError, match=r"plain http is only accepted on 127\.0\.0\.1, ::1 and localhost"
    ):
        config(token_url=f"http://{host}/oauth/access-token")


def test_make_config_points_at_the_sandbox(sandbox):
    assert make_config(sandbox).token_url == f"{sandbox.url}/oauth/access-token"
