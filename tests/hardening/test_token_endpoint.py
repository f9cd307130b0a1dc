"""A hostile or broken token endpoint: clear error, nothing stored, nothing leaked, nothing hangs.

Real servers on 127.0.0.1: the sandbox with its faults, or ``HostileServer`` where the sandbox cannot
misbehave the way a test needs (dribbling bytes, endless bodies).
"""

from __future__ import annotations

import json
import os

import pytest

from lockit_provider.cli.errors import CliError
from lockit_provider.cli.transport import require_secure_transport
from lockit_provider.exceptions import (
    LockitConfigError,
    LockitTokenEndpointError,
    OAuthProtocolError,
    TokenResponseError,
)
from lockit_provider.oauth.client import MAX_TOKEN_RESPONSE_BYTES, OAuthClient, OAuthClientConfig
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import MemoryStore
from lockit_provider.oauth.token import MAX_TOKEN_CHARS
from tests.hardening.hostile import HostileServer, respond
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
from tests.support.oauth import REAUTH, issued_record, make_client, offline_record

pytestmark = pytest.mark.timeout(60)

GOOD_TOKEN = "A1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv"


def hostile_client(server: HostileServer, timeout: float = 5.0, clock=None) -> OAuthClient:
    config = OAuthClientConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{server.url}/oauth/authorize",
        token_url=f"{server.url}/oauth/access-token",
        redirect_uri=REDIRECT_URI,
        timeout=timeout,
    )
    return OAuthClient(config) if clock is None else OAuthClient(config, clock=clock)


def refresh_into_store(client: OAuthClient, record, tmp_path) -> tuple[MemoryStore, BaseException]:
    """Run one forced refresh through a Refresher on a MemoryStore; return the store and the error."""
    store = MemoryStore(record)
    refresher = Refresher(
        client, store, key="hardening", bootstrap=None, lock_dir=tmp_path, journal=None, reauth_command=REAUTH
    )
    with pytest.raises(Exception) as caught:
        refresher.refresh(force=True)
    return store, caught.value


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_config_error_and_nothing_is_sent_on(sandbox, tmp_path, status, assert_no_leak):
    record = issued_record(sandbox)
    with HostileServer(respond("200 OK", json.dumps({"access_token": GOOD_TOKEN}).encode())) as thief:
        sandbox.add_fault(
            target="token", status=status, headers={"Location": f"http://localhost:{thief.port}/steal"}
        )
        store, error = refresh_into_store(make_client(sandbox), record, tmp_path)
        assert thief.exchanges == []  # the refresh token never reached the other server
    assert isinstance(error, LockitConfigError) and error.field == "token_url"
    assert str(error).startswith(
        "Connection extra 'token_url' (or the API base URL in 'host') "
        f"redirects (HTTP {status} to 'localhost')"
    )
    assert "set the URL it redirects to" in str(error) and "nothing was stored" in str(error)
    assert store.load() is record
    assert_no_leak(error, [record.refresh_token, record.access_token, CLIENT_SECRET])


def test_a_redirect_names_a_foreign_host_without_its_path(sandbox):
    sandbox.add_fault(target="token", status=302, headers={"Location": "https://evil.example.net/x?code=abc"})
    with pytest.raises(LockitConfigError, match=r"\(HTTP 302 to 'evil.example.net'\)") as caught:
        make_client(sandbox).refresh(issued_record(sandbox))
    assert "code=abc" not in str(caught.value)


# --- token values ------------------------------------------------------------------------------

BAD_TOKENS = {
    "CR/LF in access token": ({"access_token": "abc\r\nX-Injected: 1"}, "access_token", "CR/LF"),
    "LF in refresh token": ({"access_token": GOOD_TOKEN, "refresh_token": "r\nx"}, "refresh_token", "CR/LF"),
    "space in access token": ({"access_token": "two words"}, "access_token", "characters a bearer"),
    "non-ASCII access token": ({"access_token": "tökén"}, "access_token", "characters a bearer"),
    "'=' inside a token": ({"access_token": "ab=cd"}, "access_token", "characters a bearer"),
    "oversized access token": (
        {"access_token": "a" * (MAX_TOKEN_CHARS + 1)},
        "access_token",
        "over the limit",
    ),
    "oversized refresh token": (
        {"access_token": GOOD_TOKEN, "refresh_token": "r" * (MAX_TOKEN_CHARS + 1)},
        "refresh_token",
        "over the limit",
    ),
}


@pytest.mark.parametrize("case", BAD_TOKENS, ids=list(BAD_TOKENS))
def test_a_token_outside_rfc_6750_is_refused_before_it_is_stored(sandbox, tmp_path, case, assert_no_leak):
    payload, member, reason = BAD_TOKENS[case]
    record = issued_record(sandbox)
    sandbox.add_fault(target="token", status=200, body=json.dumps({"token_type": "Bearer", **payload}))
    store, error = refresh_into_store(make_client(sandbox), record, tmp_path)
    assert isinstance(error, TokenResponseError) and error.member == member
    assert str(error).startswith(f"token response member {member!r} ")
    assert reason in str(error) and str(error).endswith("nothing was stored")
    assert store.load() is record
    assert_no_leak(error, [payload[member], record.refresh_token, CLIENT_SECRET])


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "true", "-1", "0", "1e300", "31622401"])
def test_expires_in_out_of_range_is_refused(sandbox, value):
    sandbox.add_fault(
        target="token", status=200, body=f'{{"access_token": "{GOOD_TOKEN}", "expires_in": {value}}}'
    )
    with pytest.raises(
        TokenResponseError, match="'expires_in' must be a number of seconds from 1 to 31622400"
    ) as e:
        make_client(sandbox).refresh(issued_record(sandbox))
    assert e.value.member == "expires_in"


# --- sizes and deadlines -----------------------------------------------------------------------


def endless_body(declare_length: bool):
    def script(conn, request):
        length = "Content-Length: 5000000\r\n" if declare_length else ""
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n".encode())
        conn.sendall(b'{"access_token": "')
        for _ in range(5_000_000 // 65536):
            conn.sendall(b"a" * 65536)

    return script


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_a_multi_megabyte_answer_is_refused_without_reading_it(declare_length):
    with HostileServer(endless_body(declare_length)) as server, pytest.raises(TokenResponseError) as caught:
        hostile_client(server).refresh(offline_record(refresh_token="R" * 30))
    assert str(caught.value) == (
        "the token endpoint's answer is larger than 64 KiB, which no token response is: check the "
        "connection extra 'token_url'; nothing was stored"
    )
    # The client hung up: the server could not push the 5 MB through.
    assert server.exchanges[0].client_hung_up
    assert server.exchanges[0].sent < 5_000_000


def dribble(head: bytes, body: bytes, pause: float):
    """Send ``head`` whole, then ``body`` one byte per ``pause`` (a slow-loris answer)."""

    def script(conn, request):
        conn.sendall(head)
        for byte in body:
            conn.wait(pause)
            conn.sendall(bytes([byte]))

    return script


TOKEN_BODY = json.dumps({"access_token": GOOD_TOKEN, "expires_in": 3600}).encode()
SLOW_ANSWERS = {
    "body": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(TOKEN_BODY), TOKEN_BODY),
    "headers": (b"", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"p" * 100),
}


@pytest.mark.parametrize("phase", SLOW_ANSWERS, ids=list(SLOW_ANSWERS))
def test_a_slow_loris_answer_ends_at_the_overall_deadline(phase):
    head, body = SLOW_ANSWERS[phase]
    # Each byte comes well within the per-read timeout: only an overall deadline can end this.
    with HostileServer(dribble(head, body, pause=0.2)) as server:
        with pytest.raises(LockitTokenEndpointError) as caught:
            hostile_client(server, timeout=1.0).refresh(offline_record(refresh_token="R" * 30))
        assert str(caught.value) == (
            "the token endpoint did not complete its answer within 1s (the connection extra 'timeout' "
            "bounds the whole token request); nothing was stored"
        )
        assert caught.value.retryable
    assert server.exchanges[0].sent < len(head) + len(body)  # the client hung up, not the server


def test_the_token_lifetime_counts_from_when_the_request_was_sent():
    answer = json.dumps({"access_token": GOOD_TOKEN, "expires_in": 3600}).encode()
    with HostileServer(respond("200 OK", answer, {"Content-Type": "application/json"})) as server:
        seen_by_server: list[int] = []

        def clock() -> float:
            seen_by_server.append(len(server.exchanges))
            return 1000.0

        record = hostile_client(server, clock=clock).refresh(offline_record(refresh_token="R" * 30))
    assert seen_by_server == [0]  # read once, before the server had the request
    assert (record.obtained_at, record.expires_at) == (1000.0, 4600.0)


# --- text from the server ----------------------------------------------------------------------

HOSTILE_TEXT = "bad \x1b[2J\x1b]0;pwned\x07request \u202eevil\u200b\r\n2026-01-01 INFO forged line\x00\x9b1m"


def test_server_text_is_shown_without_control_characters_or_escapes(sandbox):
    body = json.dumps({"error": "invalid_request\x1b[31m", "error_description": HOSTILE_TEXT})
    sandbox.add_fault(target="token", status=400, body=body)
    with pytest.raises(OAuthProtocolError) as caught:
        make_client(sandbox).refresh(issued_record(sandbox))
    message = str(caught.value)
    assert message == (
        "the token endpoint refused the request (HTTP 400): invalid_request (bad request evil 2026-01-01 "
        "INFO forged line)"
    )
    assert caught.value.description == "bad request evil 2026-01-01 INFO forged line"


def test_a_non_json_answer_names_its_content_type_printably(sandbox):
    sandbox.add_fault(
        target="token", status=200, body="<html>x</html>", headers={"Content-Type": "text/html\x1b[2J"}
    )
    with pytest.raises(LockitTokenEndpointError, match=r"not JSON \(text/html\)$"):
        make_client(sandbox).refresh(issued_record(sandbox))


def test_an_echoed_refresh_token_is_redacted_even_when_it_looks_plain(sandbox, assert_no_leak):
    record = issued_record(sandbox)
    plain = "abcdefghijklmnopqrstuvwxyz0123456789"  # no capital letter: only known secrets catch this
    body = json.dumps(
        {"error": "invalid_request", "error_description": f"token {plain} {record.refresh_token}"}
    )
    sandbox.add_fault(target="token", status=400, body=body)
    with pytest.raises(OAuthProtocolError) as caught:
        make_client(sandbox).refresh(record.__class__(**{**vars(record), "refresh_token": plain}))
    assert "token [redacted] [redacted]" in str(caught.value)
    assert_no_leak(caught.value, [plain, record.refresh_token])


# --- provenance and transport ------------------------------------------------------------------


def test_records_carry_the_client_id(sandbox):
    assert make_client(sandbox).refresh(issued_record(sandbox)).client_id == CLIENT_ID


def test_loopback_http_works_without_touching_the_environment(sandbox, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    before = dict(os.environ)
    record = make_client(sandbox).refresh(issued_record(sandbox))
    assert record.generation == 2
    assert dict(os.environ) == before


def test_the_response_cap_is_64_kib():
    assert MAX_TOKEN_RESPONSE_BYTES == 64 * 1024


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/t", "http://[::1]:9/t", "http://localhost/t", "https://x.example/t"]
)
def test_the_cli_accepts_https_and_loopback_http(url):
    require_secure_transport(url)


def test_the_cli_refuses_plain_http_elsewhere_naming_the_fix():
    with pytest.raises(CliError) as caught:
        require_secure_transport("https://ok.example/t", "http://api.lockitnetwork.com/oauth/access-token")
    assert str(caught.value) == (
        "the endpoint on 'api.lockitnetwork.com' is plain http: serve it over https (with the connection "
        "extra 'ca_bundle' for a private CA); plain http is accepted only for 127.0.0.1, ::1 and localhost"
    )
