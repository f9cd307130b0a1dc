"""`authorize` in loopback mode: stray requests to the callback port never end the wait."""

from __future__ import annotations

import pytest
import requests

from lockit_provider.cli.errors import CliError
from lockit_provider.cli.loopback import LoopbackReceiver
from tests.support.connections import free_port

pytestmark = pytest.mark.timeout(30)

STATE = "the-real-state"


STRAYS = {
    "favicon": ("/favicon.ico", 404),
    "callback without state": ("/callback", 400),
    "callback with a code but no state": ("/callback?code=abc", 400),
    "callback with another authorization's state": ("/callback?code=abc&state=stale", 400),
    "callback with state but no code": (f"/callback?state={STATE}", 400),
    "wrong path with the right state": (f"/elsewhere?code=abc&state={STATE}", 404),
}


def test_stray_requests_get_4xx_and_the_real_redirect_still_completes():
    base = f"http://127.0.0.1:{free_port()}"
    redeemed: list[str] = []

    def redeem(url: str) -> str:
        redeemed.append(url)
        return "record"

    with LoopbackReceiver(f"{base}/callback", redeem, state=STATE) as receiver:
        answers = {name: requests.get(base + path, timeout=5) for name, (path, _) in STRAYS.items()}
        head = requests.head(f"{base}/callback", timeout=5)
        real = requests.get(f"{base}/callback?code=the-code&state={STATE}", timeout=5)
        assert receiver.wait(5) == "record"

    assert {name: answer.status_code for name, answer in answers.items()} == {
        name: status for name, (_, status) in STRAYS.items()
    }
    assert "the terminal keeps waiting" in answers["callback without state"].text
    assert head.status_code == 501
    assert real.status_code == 200 and "Authorization complete" in real.text
    assert redeemed == [f"{base}/callback?code=the-code&state={STATE}"]


def test_a_timeout_after_strays_says_they_were_turned_away():
    base = f"http://127.0.0.1:{free_port()}"
    with LoopbackReceiver(f"{base}/cb", lambda url: url, state=STATE) as receiver:
        requests.get(f"{base}/favicon.ico", timeout=5)
        requests.get(f"{base}/cb", timeout=5)
        with pytest.raises(CliError) as caught:
            receiver.wait(0.2)
    assert str(caught.value) == (
        "no redirect arrived within 0.2 s (2 other request(s) to the port were turned away): approve in "
        "the browser sooner (or raise --timeout), or use --paste"
    )
