"""`airflow lockit authorize` in loopback mode, then `status` and `refresh`, against the sandbox."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from lockit_provider.oauth.token import fingerprint
from tests.cli.harness import bootstrap_extras, browse, connection_flags, decide_on_consent_page
from tests.support.airflow_db import connection_extras, put_connection, put_variable_record, variable_record
from tests.support.connections import new_conn_id
from tests.support.oauth import issued_record

pytestmark = pytest.mark.timeout(240)

FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")


def test_loopback_authorize_then_status_and_refresh(cli, start_sandbox):
    sandbox = start_sandbox(refresh_policy="rotate")
    conn_id = new_conn_id()
    running = cli.start("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser")
    url = running.read_url()
    assert url.startswith(sandbox.authorize_url)
    query = urlsplit(url).query
    assert "state=" in query and "code_challenge_method=S256" in query
    redirect = urlsplit(sandbox.config.redirect_uri)
    # Other paths on the listener are 404s and do not use up the one callback.
    stray = requests.get(f"http://127.0.0.1:{redirect.port}/favicon.ico", timeout=10)
    assert stray.status_code == 404

    page = browse(url)

    assert page.status_code == 200 and "Authorization complete" in page.text
    run = running.finish()
    assert run.returncode == 0, run.stderr
    assert f"Authorized connection '{conn_id}'" in run.stdout
    assert "lists 3 project(s)" in run.stdout
    assert f"Created connection '{conn_id}' in the metadata DB" in run.stderr
    extras = connection_extras(conn_id)
    stored = variable_record(f"lockit_token__{conn_id}")
    assert extras is not None and stored is not None
    assert extras["redirect_uri"] == sandbox.config.redirect_uri
    assert (stored.access_token, stored.refresh_token) == (extras["access_token"], extras["refresh_token"])
    assert stored.bootstrap_fingerprint == fingerprint(
        extras["access_token"], extras["refresh_token"], extras["expires_at"]
    )
    assert stored.fingerprint() in run.stdout

    text = cli.run("status", "--conn-id", conn_id)
    assert text.returncode == 0, text.stderr
    assert f"Airflow Variable 'lockit_token__{conn_id}'" in text.stdout
    assert "the live record in the token store" in text.stdout
    assert "(in 6 days" in text.stdout or "(in 7 days" in text.stdout

    refreshes = sandbox.stats()["token_requests"].get("refresh_token", 0)
    refreshed = cli.run("refresh", "--conn-id", conn_id)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "generation:    2" in refreshed.stdout
    assert sandbox.stats()["token_requests"]["refresh_token"] == refreshes + 1
    after = variable_record(f"lockit_token__{conn_id}")
    assert after is not None and after.refresh_token == sandbox.current_refresh_token()
    assert after.generation == 2

    report = cli.run("status", "--conn-id", conn_id, "--json")
    assert report.returncode == 0, report.stderr
    status = json.loads(report.stdout)
    assert status["store"] == f"lockit_token__{conn_id}"
    assert status["source"] == "store"
    assert status["generation"] == 2
    assert status["expires_at"].endswith("Z") and status["expires_in"] > 600_000
    assert status["obtained_by"].endswith(tuple("0123456789"))
    assert status["fingerprint"] == after.fingerprint()
    assert status["journal"] == []


def test_default_mode_opens_the_browser_that_follows_the_redirect(cli, start_sandbox, tmp_path):
    sandbox = start_sandbox()
    conn_id = new_conn_id()
    page_file = tmp_path / "page.html"
    browser = f"{sys.executable} {FAKE_BROWSER} {page_file} %s"

    run = cli.run("authorize", "--conn-id", conn_id, *connection_flags(sandbox), env={"BROWSER": browser})

    assert run.returncode == 0, run.stderr
    assert "Authorization complete" in page_file.read_text()


def test_wrong_state_is_rejected_and_nothing_is_written(cli, start_sandbox):
    sandbox = start_sandbox()
    conn_id = new_conn_id()
    boot = bootstrap_extras(sandbox)
    put_connection(conn_id, host=sandbox.url, redirect_uri=sandbox.config.redirect_uri, extras=boot)
    running = cli.start("authorize", "--conn-id", conn_id, "--no-browser")
    location = urlsplit(
        requests.get(running.read_url(), allow_redirects=False, timeout=10).headers["Location"]
    )
    forged = location._replace(query=location.query.replace("state=", "state=forged")).geturl()

    page = requests.get(forged, timeout=10)

    # A forged state is turned away and spends nothing; the command keeps waiting for its own redirect.
    assert page.status_code == 400 and "belongs to another authorization" in page.text
    assert running.proc.poll() is None
    assert sandbox.stats()["token_requests"].get("authorization_code", 0) == 0
    assert connection_extras(conn_id) == {"redirect_uri": sandbox.config.redirect_uri, **boot}
    assert variable_record(f"lockit_token__{conn_id}") is None
    status = json.loads(cli.run("status", "--conn-id", conn_id, "--json").stdout)
    assert (status["source"], status["generation"], status["obtained_at"]) == ("connection", 0, None)

    assert requests.get(location.geturl(), timeout=30).status_code == 200  # the real redirect still works
    run = running.finish()
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert sandbox.stats()["token_requests"].get("authorization_code", 0) == 1


def test_denied_consent_is_reported_plainly(cli, start_sandbox):
    sandbox = start_sandbox(auto_approve=False)
    conn_id = new_conn_id()
    running = cli.start("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser")

    page = decide_on_consent_page(sandbox, running.read_url(), "deny")

    assert page.status_code == 400 and "access_denied" in page.text
    run = running.finish()
    assert run.returncode == 1
    assert "lockit authorize: the authorization was refused: access_denied" in run.stderr
    assert variable_record(f"lockit_token__{conn_id}") is None


def test_approval_on_the_consent_page_completes(cli, start_sandbox):
    sandbox = start_sandbox(auto_approve=False)
    conn_id = new_conn_id()
    put_variable_record(f"lockit_token__{conn_id}", issued_record(sandbox, generation=7))
    running = cli.start("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser")

    page = decide_on_consent_page(sandbox, running.read_url(), "approve")

    assert "Authorization complete" in page.text
    run = running.finish()
    assert run.returncode == 0, run.stderr
    stored = variable_record(f"lockit_token__{conn_id}")
    assert stored is not None and stored.generation == 8  # above the record it replaced


def test_a_busy_port_fails_before_the_url_is_shown(cli, start_sandbox):
    sandbox = start_sandbox()
    port = urlsplit(sandbox.config.redirect_uri).port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        run = cli.run("authorize", "--conn-id", new_conn_id(), *connection_flags(sandbox), "--no-browser")
    assert run.returncode == 1
    assert f"lockit authorize: cannot listen on 127.0.0.1 port {port}" in run.stderr
    assert "use --paste" in run.stderr
    assert "http" not in run.stdout


def test_no_redirect_within_the_timeout(cli, start_sandbox):
    sandbox = start_sandbox()
    run = cli.run(
        "authorize", "--conn-id", new_conn_id(), *connection_flags(sandbox), "--no-browser", "--timeout", "1"
    )
    assert run.returncode == 1
    assert "lockit authorize: no redirect arrived within 1 s" in run.stderr
    assert run.url.startswith(sandbox.authorize_url)
