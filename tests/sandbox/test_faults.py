"""Injected faults: statuses, headers, HTML bodies, malformed JSON, delays, dropped connections."""

from __future__ import annotations

import json
import time

import pytest
import requests

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def tokens(client):
    return client.tokens()


def test_429_with_retry_after_then_normal_service(client, tokens):
    client.sandbox.add_fault(target="api", status=429, headers={"Retry-After": "2"})
    limited = client.api("/projects", tokens["access_token"])
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert client.api("/projects", tokens["access_token"]).status_code == 200


def test_5xx_html_on_the_token_endpoint_does_not_spend_the_refresh_token(client, tokens):
    html = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    client.sandbox.add_fault(target="token", status=503, body=html)
    response = client.refresh(tokens["refresh_token"])
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == html
    assert client.refresh(tokens["refresh_token"]).status_code == 200


def test_malformed_json_is_a_200_that_does_not_parse(client, tokens):
    client.sandbox.add_fault(target="token", malformed=True)
    response = client.refresh(tokens["refresh_token"])
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_delay_holds_the_answer_back(client, tokens):
    client.sandbox.add_fault(target="api", delay=0.5)
    start = time.monotonic()
    response = client.api("/projects", tokens["access_token"])
    assert time.monotonic() - start >= 0.5
    assert response.status_code == 200
    client.sandbox.add_fault(target="api", delay=1.0)
    with pytest.raises(requests.Timeout):
        client.api("/projects", tokens["access_token"], timeout=0.2)


def test_dropped_connection(client, tokens):
    client.sandbox.add_fault(target="api", drop=True)
    with pytest.raises(requests.ConnectionError):
        client.api("/projects", tokens["access_token"])
    assert client.api("/projects", tokens["access_token"]).status_code == 200
    assert client.sandbox.stats()["api_requests"] == {"dropped": 1, "200": 1}


def test_count_is_honoured(client, tokens):
    client.sandbox.add_fault(target="api", status=502, count=2)
    statuses = [client.api("/projects", tokens["access_token"]).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


def test_faults_apply_in_order_and_by_path(client, tokens):
    client.sandbox.add_fault(target="api", status=500, path="/projects/")
    client.sandbox.add_fault(target="api", status=429)
    assert client.api("/projects", tokens["access_token"]).status_code == 429  # the path does not match
    assert client.api("/projects/x/projectdays", tokens["access_token"]).status_code == 500
    assert client.sandbox.stats()["faults"] == []


def test_lost_response_after_the_server_rotated(client, tokens):
    client.sandbox.add_fault(target="token", drop=True, process=True)
    with pytest.raises(requests.ConnectionError):
        client.refresh(tokens["refresh_token"])
    current = client.sandbox.current_refresh_token()
    assert current != tokens["refresh_token"]
    assert client.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert client.refresh(current).status_code == 200


def test_authorize_fault(client):
    client.sandbox.add_fault(target="authorize", status=500, body="<html>oops</html>")
    assert client.authorize(client.oauth_session()).status_code == 500
    assert client.authorize(client.oauth_session()).status_code == 302


def test_faults_over_http(client, tokens):
    fault = {"target": "api", "status": 429, "headers": {"Retry-After": "2"}, "count": 1}
    response = client.http.post(client.sandbox.url + "/_sandbox/faults", json=fault)
    assert response.status_code == 201
    assert client.api("/projects", tokens["access_token"]).headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    "fault",
    [
        {"target": "database"},
        {"target": "api", "status": 999},
        {"target": "api", "count": 0},
        {"target": "api", "colour": 1},
    ],
)
def test_bad_fault_is_400(client, fault):
    response = client.http.post(client.sandbox.url + "/_sandbox/faults", json=fault)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert client.sandbox.stats()["faults"] == []
