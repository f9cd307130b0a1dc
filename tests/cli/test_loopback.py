"""The loopback receiver in-process: one callback, 404 elsewhere, errors reach the caller."""

from __future__ import annotations

import pytest
import requests

from lockit_provider.cli.errors import CliError
from lockit_provider.cli.loopback import LoopbackReceiver, is_loopback_redirect
from lockit_provider.exceptions import LockitError
from tests.support.connections import free_port

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:8765/callback", True),
        ("http://localhost:8765/cb", True),
        ("http://[::1]:8765/cb", True),
        ("https://127.0.0.1:8765/callback", False),  # the listener speaks plain http only
        ("http://10.0.0.5:8765/callback", False),
        ("https://tools.example.com/callback", False),
    ],
)
def test_is_loopback_redirect(uri, expected):
    assert is_loopback_redirect(uri) is expected


def test_answers_one_callback_and_ignores_other_paths():
    uri = f"http://127.0.0.1:{free_port()}/callback"
    seen = []

    def redeem(url):
        seen.append(url)
        return "record"

    with LoopbackReceiver(uri, redeem) as receiver:
        assert requests.get(uri.replace("/callback", "/"), timeout=5).status_code == 404
        first = requests.get(f"{uri}?code=c&state=s", timeout=5)
        second = requests.get(f"{uri}?code=other&state=s", timeout=5)
        assert receiver.wait(5) == "record"

    assert first.status_code == 200 and "Authorization complete" in first.text
    assert first.headers["Cache-Control"] == "no-store"
    assert second.status_code == 409
    assert seen == [f"{uri}?code=c&state=s"]


def test_a_failed_redeem_shows_a_failure_page_and_raises_in_the_caller():
    uri = f"http://127.0.0.1:{free_port()}/cb"

    def redeem(url):
        raise LockitError("the redirect's state does not match <this> request")

    with LoopbackReceiver(uri, redeem) as receiver:
        page = requests.get(f"{uri}?code=c&state=forged", timeout=5)
        with pytest.raises(LockitError, match="state does not match"):
            receiver.wait(5)

    assert page.status_code == 400
    assert "state does not match &lt;this&gt; request" in page.text  # escaped
    assert "nothing was stored" in page.text


def test_times_out_with_a_clear_error():
    with (
        LoopbackReceiver(f"http://127.0.0.1:{free_port()}/cb", lambda url: url) as receiver,
        pytest.raises(CliError, match=r"no redirect arrived within 0.2 s"),
    ):
        receiver.wait(0.2)
