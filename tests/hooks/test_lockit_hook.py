"""LockitHook against the sandbox: typed methods, retries, timeouts and token-free errors."""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import time
from email.utils import formatdate

import pytest
import requests

from lockit_provider.exceptions import LockitApiError, LockitConfigError
from lockit_provider.hooks.lockit import LockitHook
from lockit_provider.http.retry import RetryPolicy
from lockit_provider.sandbox import data
from tests.support.connections import use_sandbox
from tests.support.counts import api_count, issued_tokens

QUICK = RetryPolicy(max_retries=3, backoff=0.02, backoff_max=0.1, deadline=30)
DAY_1 = data.SERIES_DAY_IDS[0]


@pytest.fixture
def hook(monkeypatch, sandbox, tmp_path) -> LockitHook:
    use_sandbox(monkeypatch, sandbox, tmp_path)
    return LockitHook(retry_policy=QUICK)


def test_typed_methods_return_the_resources(hook):
    assert {p["name"] for p in hook.get_projects()} == {
        "Northern Lights",
        "The Quiet Harbour",
        "Corporate Reel",
    }
    assert [d["uuid"] for d in hook.get_project_days(data.SERIES_ID)] == list(data.SERIES_DAY_IDS)
    assert [e["episodeName"] for e in hook.get_episodes(data.SERIES_ID)] == ["Pilot", "Thaw"]
    assert hook.get_episode(data.SERIES_ID, data.EPISODE_1_ID)["episodeNumber"] == 1
    scenes = hook.get_episode_scenes(data.SERIES_ID, data.EPISODE_1_ID)
    assert {s["uuid"] for s in scenes} == {data.SCENE_1_1_ID, data.SCENE_1_2_ID, data.SCENE_1_2A_ID}
    assert hook.get_scene(data.SERIES_ID, data.SCENE_2_7_ID)["dayNight"] == "NIGHT"
    assert hook.get_episodes(data.FILM_ID) == []


def test_match_clips_returns_only_the_clips_with_takes(hook):
    matches = hook.match_clips(data.SERIES_ID, DAY_1, ["A001_C002_0512AB.R3D", "Z999_C001.R3D"])
    assert [(m["clip"], m["take"], m["circled"]) for m in matches] == [("A001_C002_0512AB.R3D", 2, True)]
    assert hook.match_clips(data.SERIES_ID, DAY_1, []) == []


def test_project_and_day_are_found_by_name_and_date_or_by_id(hook):
    project, day = hook.resolve_shooting_day("northern lights", "2026-05-13")
    assert (project["uuid"], day["uuid"]) == (data.SERIES_ID, data.SERIES_DAY_IDS[1])
    project, day = hook.resolve_shooting_day(data.FILM_ID, data.FILM_DAY_IDS[1])
    assert (project["name"], day["day"]) == ("The Quiet Harbour", 2)


@pytest.mark.parametrize(
    ("project", "day", "field", "text"),
    [
        ("No Such Show", "2026-05-12", "project", "visible projects: 'Northern Lights'"),
        ("Northern Lights", "2026-01-01", "shooting_day", "2026-05-12 (Main Unit"),
        ("Northern Lights", "the first day", "shooting_day", "neither a day id"),
    ],
)
def test_unknown_project_or_day_names_the_choices(hook, project, day, field, text):
    with pytest.raises(LockitConfigError) as info:
        hook.resolve_shooting_day(project, day)
    assert info.value.field == field
    assert text in str(info.value)


def test_one_session_and_one_connection_read_per_hook(monkeypatch, hook):
    reads = []
    original = LockitHook.get_connection
    monkeypatch.setattr(
        LockitHook, "get_connection", classmethod(lambda cls, i: reads.append(i) or original(i))
    )
    for _ in range(3):
        hook.get_projects()
    assert hook.get_conn() is hook.get_conn()
    assert reads == ["lockit_default"]


def record_waits(hook: LockitHook) -> list[float]:
    """Make ``hook`` note the waits it chooses between attempts instead of sleeping them."""
    waits: list[float] = []
    hook._sleep = waits.append  # type: ignore[method-assign]
    return waits


@pytest.mark.parametrize(("status", "retry_after"), [(429, "1"), (503, "1")])
def test_retry_after_in_seconds_is_honoured(sandbox, hook, status, retry_after):
    sandbox.add_fault("api", status=status, headers={"Retry-After": retry_after})
    waits = record_waits(hook)
    assert hook.get_projects()
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 1.1  # the server's second plus at most a tenth of it as jitter
    assert api_count(sandbox, str(status)) == 1


def test_retry_after_as_http_date_is_honoured(sandbox, hook):
    # 20 s: well inside the policy's 30 s deadline, however long the first request takes.
    retry_at = int(time.time()) + 20  # HTTP dates have whole seconds
    sandbox.add_fault("api", status=503, headers={"Retry-After": formatdate(retry_at, usegmt=True)})
    waits = record_waits(hook)
    started = time.time()
    assert hook.get_projects()
    finished = time.time()
    assert len(waits) == 1
    # The wait runs to the date from whenever the hook decided, plus at most 0.25 s of jitter.
    assert retry_at - finished <= waits[0] <= retry_at - started + 0.25


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_backoff(sandbox, hook, status):
    sandbox.add_fault("api", status=status, body="<html><body>upstream down</body></html>", count=2)
    assert hook.get_projects()
    assert api_count(sandbox, str(status)) == 2
    assert api_count(sandbox, "200") == 1


def test_dropped_connections_are_retried(sandbox, hook):
    sandbox.add_fault("api", drop=True, count=2)
    assert hook.get_projects()
    assert api_count(sandbox, "dropped") == 2


def test_refused_connections_are_retried_then_reported(monkeypatch, sandbox, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    use_sandbox(monkeypatch, sandbox, tmp_path)
    hook = LockitHook(retry_policy=QUICK)
    hook.settings = dataclasses.replace(hook.settings, api_url=f"http://127.0.0.1:{port}")
    with pytest.raises(LockitApiError) as info:
        hook.get_projects()
    assert info.value.status is None
    assert "ConnectionError" in str(info.value)
    assert "gave up after 4 attempts" in str(info.value)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 500])
def test_other_errors_are_not_retried(sandbox, hook, status):
    sandbox.add_fault("api", status=status, count=5)
    with pytest.raises(LockitApiError) as info:
        hook.get_projects()
    assert info.value.status == status
    assert api_count(sandbox, str(status)) == 1


def test_an_accepted_status_is_returned_not_raised(sandbox, hook):
    sandbox.add_fault("api", status=404, body='{"error": "no such scene"}', count=2)
    response = hook.request("GET", "projects", accept_statuses=[404])
    assert response.status_code == 404
    assert api_count(sandbox, "404") == 1  # an answer: not retried
    with pytest.raises(LockitApiError) as info:  # without it, the same answer is an error
        hook.request("GET", "projects", accept_statuses=[409])
    assert info.value.status == 404


def test_a_real_403_names_status_and_body(hook):
    with pytest.raises(LockitApiError) as info:
        hook.get_project_days(data.NON_PREMIUM_ID)
    assert info.value.status == 403
    assert "Production Service is not active" in info.value.body_excerpt


def test_retries_are_capped(sandbox, hook):
    sandbox.add_fault("api", status=503, count=10)
    with pytest.raises(LockitApiError) as info:
        hook.get_projects()
    assert info.value.status == 503
    assert "gave up after 4 attempts" in str(info.value)
    assert api_count(sandbox, "503") == 4


def test_a_retry_after_beyond_the_deadline_fails_at_once(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, retry_deadline=5)
    hook = LockitHook()
    waits = record_waits(hook)
    sandbox.add_fault("api", status=429, headers={"Retry-After": "1000000000"})
    with pytest.raises(LockitApiError) as info:
        hook.get_projects()
    assert waits == []  # it did not wait at all, let alone for decades
    assert info.value.status == 429
    assert "retry deadline of 5 s" in str(info.value)


def test_post_is_not_retried_unless_asked(sandbox, hook):
    path = f"/projects/{data.SERIES_ID}/projectdays/{DAY_1}/matchClips"
    sandbox.add_fault("api", status=503)
    with pytest.raises(LockitApiError):
        hook.request("POST", path, json={"clips": ["A001_C001_0512AB.R3D"]})
    assert api_count(sandbox, "503") == 1
    sandbox.add_fault("api", drop=True)
    with pytest.raises(LockitApiError):
        hook.request("POST", path, json={"clips": ["A001_C001_0512AB.R3D"]})
    assert api_count(sandbox, "dropped") == 1
    sandbox.add_fault("api", status=429, headers={"Retry-After": "0"})
    assert hook.request("POST", path, json={"clips": ["A001_C001_0512AB.R3D"]}).ok
    # match_clips only reads, so it declares itself safe to repeat.
    sandbox.add_fault("api", status=503)
    assert hook.match_clips(data.SERIES_ID, DAY_1, ["A001_C001_0512AB.R3D"])


def test_read_timeout_comes_from_the_connection_and_is_retried(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, read_timeout=0.3, connect_timeout=2)
    hook = LockitHook(retry_policy=QUICK)
    assert hook.http_options.timeouts == (2.0, 0.3)
    sandbox.add_fault("api", delay=5.0)  # far longer than the read timeout
    waits = record_waits(hook)
    assert hook.get_projects()
    assert len(waits) == 1  # one attempt timed out and was retried


def test_default_timeouts(hook):
    assert hook.http_options.timeouts == (10.0, 30.0)


@pytest.mark.parametrize(("extra", "value"), [("connect_timeout", "soon"), ("max_retries", -1)])
def test_invalid_http_extras_name_the_field(sandbox, monkeypatch, tmp_path, extra, value):
    use_sandbox(monkeypatch, sandbox, tmp_path, **{extra: value})
    with pytest.raises(LockitConfigError) as info:
        LockitHook().get_projects()
    assert info.value.field == extra


def test_errors_and_retry_logs_carry_no_token(sandbox, hook, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    hook.get_projects()
    token = hook.get_access_token()
    body = f'{{"error": "bad", "echo": "Bearer {token}", "url": "/x?token={token}&a=1", "raw": "{token}"}}'
    sandbox.add_fault("api", status=429, headers={"Retry-After": "0"})
    sandbox.add_fault("api", status=400, body=body)
    with pytest.raises(LockitApiError) as info:
        hook.request("GET", "/projects?token=query-secret-value", params={"a": 1})
    printed = capsys.readouterr().out  # Airflow's structlog prints the hook's own lines
    texts = [str(info.value), info.value.body_excerpt, printed, *(r.getMessage() for r in caplog.records)]
    assert "[redacted]" in info.value.body_excerpt
    assert "GET /projects?token=[redacted]: HTTP 429; retry 1 of 3" in printed
    for text in texts:
        assert "query-secret-value" not in text
        for issued in issued_tokens(sandbox):
            assert issued not in text


def test_the_401_refresh_still_happens_once(sandbox, hook):
    hook.get_projects()
    sandbox.expire_access_tokens()
    assert hook.get_projects()
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1
    assert api_count(sandbox, "401") == 1


def test_refresh_token_early_refreshes_only_inside_the_window(sandbox, hook):
    assert hook.refresh_token_early(60) == {
        "refreshed": False,
        "generation": 0,
        "expires_at": pytest.approx(time.time() + 604800, abs=5),
    }
    summary = hook.refresh_token_early(30 * 86400)
    assert summary["refreshed"] is True
    assert summary["generation"] == 1
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1
    assert hook.get_projects()


def test_each_call_logs_one_line_without_the_token(sandbox, hook, caplog, capsys):
    caplog.set_level(logging.INFO)
    sandbox.add_fault("api", status=503, headers={"Retry-After": "0"})
    record_waits(hook)
    hook.request("GET", "/projects", log_response=True)
    printed = capsys.readouterr().out + "\n".join(r.getMessage() for r in caplog.records)
    lines = [line for line in printed.splitlines() if "LockitNetwork GET /projects: HTTP 200" in line]
    assert len(lines) == 1
    assert re.search(r"HTTP 200, \d+ bytes in \d+ ms, 1 retries", lines[0])
    assert "Northern Lights" in printed  # log_response shows the body
    for issued in issued_tokens(sandbox):
        assert issued not in printed


def test_a_token_already_replaced_is_resent_without_a_refresh(sandbox, hook):
    hook.get_projects()
    old = hook.refresher.cached_token()
    sandbox.expire_access_tokens()
    new = hook.refresher.refresh(force=True).access_token  # a sibling refreshed meanwhile
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1
    request = requests.Request("GET", hook.url_for("/projects")).prepare()
    request = hook.get_conn().auth(request)  # type: ignore[misc]
    request.headers["Authorization"] = f"Bearer {old}"  # sent before the sibling's refresh landed
    request._lockit_token = old  # type: ignore[attr-defined]
    response = hook.get_conn().send(request)
    assert response.status_code == 200
    assert response.request.headers["Authorization"] == f"Bearer {new}"
    assert api_count(sandbox, "401") == 1
    assert sandbox.stats()["token_requests"]["refresh_token"] == 1  # no second refresh


def test_a_tls_failure_is_a_config_error_naming_host_and_ca_bundle(sandbox_factory, monkeypatch, tmp_path):
    tls_sandbox = sandbox_factory(auto_approve=True, tls=True)
    use_sandbox(monkeypatch, tls_sandbox, tmp_path)
    hook = LockitHook(retry_policy=QUICK)
    waits = record_waits(hook)
    with pytest.raises(LockitConfigError) as info:
        hook.get_projects()
    assert info.value.field == "ca_bundle"
    message = str(info.value)
    assert tls_sandbox.url.split("://")[1] in message
    assert "certificate" in message
    assert "'ca_bundle'" in message
    assert waits == []  # never retried as transient
    use_sandbox(monkeypatch, tls_sandbox, tmp_path, ca_bundle=tls_sandbox.ca_cert_path)
    assert LockitHook(retry_policy=QUICK).get_projects()


class _Dribbler:
    """An API on 127.0.0.1 that sends its headers at once, then its body one byte per 50 ms."""

    def __init__(self) -> None:
        import threading

        self.sent = 0
        self.closed_early = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._server.accept()
        with conn:
            conn.recv(65536)
            body = b"[" + b" " * 998 + b"]"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            try:
                for byte in body:
                    conn.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(0.05)
            except OSError:
                self.closed_early.set()

    def close(self) -> None:
        self._server.close()


def test_a_dribbling_api_cannot_outlast_the_calls_deadline(sandbox, monkeypatch, tmp_path):
    # Every read gets a byte within the read timeout, so only an overall deadline ends the call.
    dribbler = _Dribbler()
    try:
        use_sandbox(monkeypatch, sandbox, tmp_path, read_timeout=30, token_url=sandbox.token_url)
        hook = LockitHook(retry_policy=RetryPolicy(max_retries=0, deadline=1))
        hook.settings = dataclasses.replace(hook.settings, api_url=dribbler.url)
        with pytest.raises(LockitApiError) as info:
            hook.get_projects()
        assert "within the call's deadline of 1 s" in str(info.value)
        assert dribbler.closed_early.wait(30)  # the client hung up mid-body
        assert dribbler.sent < 999
    finally:
        dribbler.close()
