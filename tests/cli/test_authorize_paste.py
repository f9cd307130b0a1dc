"""`airflow lockit authorize` in paste mode (stdin, --redirect-url) and with a non-DB connection."""

from __future__ import annotations

import json
import os
import pty
from urllib.parse import parse_qs, urlsplit

import pytest

from lockit_provider.oauth.token import fingerprint
from tests.cli.harness import bootstrap_extras, connection_flags, redirect_location
from tests.support.airflow_db import connection_extras, variable_record
from tests.support.connections import CLIENT_ID, CLIENT_SECRET, new_conn_id

pytestmark = pytest.mark.timeout(240)

HOSTED_REDIRECT = "https://tools.example.com/lockit/callback"


def test_non_loopback_redirect_uri_pastes_through_stdin(cli, start_sandbox):
    sandbox = start_sandbox(redirect_uri=HOSTED_REDIRECT)
    conn_id = new_conn_id()
    running = cli.start("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser")
    location = redirect_location(running.read_url())
    assert location.startswith(HOSTED_REDIRECT)

    running.send(location + "\n")

    run = running.finish()
    assert run.returncode == 0, run.stderr
    assert "paste mode" in run.stderr
    assert "Redirect URL:" in run.stderr
    assert "lists 3 project(s)" in run.stdout
    assert connection_extras(conn_id)["refresh_token"] == sandbox.current_refresh_token()


def test_a_bare_code_is_accepted_at_an_interactive_prompt(cli, start_sandbox):
    sandbox = start_sandbox(redirect_uri=HOSTED_REDIRECT)
    conn_id = new_conn_id()
    terminal, stdin = pty.openpty()  # stdin is a terminal: a person is typing
    try:
        running = cli.start(
            "authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser", stdin=stdin
        )
        query = parse_qs(urlsplit(redirect_location(running.read_url())).query)
        os.write(terminal, query["code"][0].encode() + b"\n")
        run = running.finish()
    finally:
        os.close(terminal)
        os.close(stdin)

    assert run.returncode == 0, run.stderr
    assert "a bare code cannot be checked against this request's state" in run.stderr
    assert variable_record(f"lockit_token__{conn_id}") is not None


def test_redirect_url_option_finishes_the_request_a_paste_run_opened(cli, start_sandbox):
    sandbox = start_sandbox()
    conn_id = new_conn_id()
    # Step 1: a paste-mode run with nothing on stdin prints the URL and leaves the request open.
    opened = cli.run("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--paste", "--no-browser")
    assert opened.returncode == 1
    assert "finish it with --redirect-url URL" in opened.stderr
    location = redirect_location(opened.url)

    bare = cli.run("authorize", "--conn-id", conn_id, "--redirect-url", "just-a-code")
    assert bare.returncode == 1
    assert "a bare code cannot be checked against the request's state" in bare.stderr
    forged = location.replace("state=", "state=x")
    assert cli.run("authorize", "--conn-id", conn_id, "--redirect-url", forged).returncode == 1
    assert variable_record(f"lockit_token__{conn_id}") is None

    done = cli.run("authorize", "--conn-id", conn_id, "--redirect-url", location)

    assert done.returncode == 0, done.stderr
    assert "lists 3 project(s)" in done.stdout
    assert variable_record(f"lockit_token__{conn_id}").refresh_token == sandbox.current_refresh_token()
    again = cli.run("authorize", "--conn-id", conn_id, "--redirect-url", location)
    assert again.returncode == 1 and "no open authorization request" in again.stderr


def test_env_connection_gets_only_the_store_tied_to_its_tokens(cli, start_sandbox):
    sandbox = start_sandbox()
    conn_id = new_conn_id()
    stale = bootstrap_extras(sandbox)
    env_conn = {
        "conn_type": "lockit",
        "host": sandbox.url,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"redirect_uri": sandbox.config.redirect_uri, **stale},
    }
    env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(env_conn)}
    running = cli.start("authorize", "--conn-id", conn_id, "--paste", "--no-browser", env=env)
    running.send(redirect_location(running.read_url()) + "\n")

    run = running.finish()

    assert run.returncode == 0, run.stderr
    assert f"the Airflow Variable 'lockit_token__{conn_id}' only" in run.stdout
    assert f"environment variable AIRFLOW_CONN_{conn_id.upper()}" in run.stdout
    assert connection_extras(conn_id) is None  # nothing was created in the metadata DB
    stored = variable_record(f"lockit_token__{conn_id}")
    assert stored is not None and stored.refresh_token == sandbox.current_refresh_token(stored.access_token)
    assert stored.refresh_token != stale["refresh_token"]
    assert stored.bootstrap_fingerprint == fingerprint(
        stale["access_token"], stale["refresh_token"], stale["expires_at"]
    )
    status = json.loads(cli.run("status", "--conn-id", conn_id, "--json", env=env).stdout)
    assert status["source"] == "store"
    assert status["connection_source"] == f"environment variable AIRFLOW_CONN_{conn_id.upper()}"

    refused = cli.run("authorize", "--conn-id", conn_id, "--client-id", "other", env=env)
    assert refused.returncode == 1
    assert "which this command cannot change" in refused.stderr


def test_plain_http_to_a_remote_host_is_refused_up_front(cli, start_sandbox):
    sandbox = start_sandbox()
    conn_id = new_conn_id()
    flags = [flag.replace(sandbox.url, "http://lockit.invalid") for flag in connection_flags(sandbox)]

    run = cli.run("authorize", "--conn-id", conn_id, *flags, "--no-browser")

    assert run.returncode == 1
    (reason,) = [line for line in run.stderr.splitlines() if line.startswith("lockit authorize:")]
    assert "plain http" in reason and "https://" in reason
    assert "http" not in run.stdout  # no authorization URL was shown
