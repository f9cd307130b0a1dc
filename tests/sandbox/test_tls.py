"""HTTPS with the sandbox's throw-away certificate authority."""

from __future__ import annotations

import os

import pytest
import requests

pytestmark = pytest.mark.timeout(30)


def test_tls_verifies_with_the_ca_and_only_with_it(sandbox_factory):
    sandbox = sandbox_factory(tls=True, auto_approve=True)
    assert sandbox.url.startswith("https://127.0.0.1:")
    assert sandbox.ca_cert_path is not None and os.path.exists(sandbox.ca_cert_path)
    assert requests.get(sandbox.url + "/_sandbox/stats", verify=sandbox.ca_cert_path).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sandbox.url + "/_sandbox/stats")
    localhost = sandbox.url.replace("127.0.0.1", "localhost")
    assert requests.get(localhost + "/projects", verify=sandbox.ca_cert_path).status_code == 401
    sandbox.stop()
    assert not os.path.exists(sandbox.ca_cert_path)


def test_token_flow_over_tls(sandbox_factory):
    sandbox = sandbox_factory(tls=True)
    token = sandbox.issue_tokens()
    response = requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("lockit-client", "lockit-secret"),
        verify=sandbox.ca_cert_path,
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] == sandbox.current_refresh_token()
