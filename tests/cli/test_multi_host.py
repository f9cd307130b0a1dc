"""`airflow lockit refresh | status` across hosts: the lock in force, the warning, the write-back.

Two "hosts" are two state directories (no shared file lock), as two machines have.
"""

from __future__ import annotations

import json

import pytest

from lockit_provider.oauth.token import fingerprint
from tests.support.airflow_db import connection_extras, put_connection, variable_record

pytestmark = pytest.mark.timeout(240)


def expired_bootstrap(sandbox) -> dict:
    tokens = sandbox.issue_tokens()
    return {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "expires_at": 1}


def test_hosts_refreshing_without_a_cross_host_lock_are_warned_and_status_says_what_is_missing(
    cli, start_sandbox, tmp_path
):
    sandbox = start_sandbox(refresh_policy="rotate")
    conn_id = "lockit_multihost"
    put_connection(
        conn_id, host=sandbox.url, redirect_uri=sandbox.config.redirect_uri, extras=expired_bootstrap(sandbox)
    )
    host_a = {"LOCKIT_STATE_DIR": str(tmp_path / "host-a")}
    host_b = {"LOCKIT_STATE_DIR": str(tmp_path / "host-b")}

    first = cli.run("refresh", "--conn-id", conn_id, env=host_a)
    second = cli.run("refresh", "--conn-id", conn_id, env=host_b)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "host-only" in first.stdout  # the refresh names the lock it took
    warned = second.stdout + second.stderr
    assert "no cross-host lock is in force" in warned and "lock_conn_id" in warned
    assert "no cross-host lock" not in first.stdout + first.stderr  # one host alone is not warned
    status = json.loads(cli.run("status", "--conn-id", conn_id, "--json", env=host_a).stdout)
    assert status["lock"].startswith("host-only")
    assert "lock_conn_id" in status["warning"]
    assert len({r["state"] for r in status["recent_refreshers"]}) == 2
    text = cli.run("status", "--conn-id", conn_id, env=host_a).stdout
    assert "WARNING" in text and "2 hosts refresh this grant without a cross-host lock" in text


def test_status_names_the_lock_a_connection_asks_for(cli, start_sandbox):
    sandbox = start_sandbox()
    conn_id = "lockit_named_lock"
    put_connection(
        conn_id,
        host=sandbox.url,
        redirect_uri=sandbox.config.redirect_uri,
        extras={**expired_bootstrap(sandbox), "lock_conn_id": "lockit_lock_pg"},
    )
    env = {"AIRFLOW_CONN_LOCKIT_LOCK_PG": "postgres://postgres:s3cret-pw@127.0.0.1:5432/postgres"}
    run = cli.run("status", "--conn-id", conn_id, "--json", env=env)
    assert run.returncode == 0, run.stderr
    status = json.loads(run.stdout)
    assert status["lock"] == "PostgreSQL connection 'lockit_lock_pg' (127.0.0.1:5432/postgres)"
    assert status["warning"] is None
    assert "s3cret-pw" not in run.stdout + run.stderr


def test_refresh_and_status_sync_write_the_live_record_back_into_the_connection(cli, start_sandbox):
    sandbox = start_sandbox(refresh_policy="rotate-revoke")
    conn_id = "lockit_writeback"
    put_connection(
        conn_id, host=sandbox.url, redirect_uri=sandbox.config.redirect_uri, extras=expired_bootstrap(sandbox)
    )

    refreshed = cli.run("refresh", "--conn-id", conn_id)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "and the connection's extras" in refreshed.stdout
    extras = connection_extras(conn_id)
    live = variable_record(f"lockit_token__{conn_id}")
    assert extras is not None and live is not None
    assert extras["refresh_token"] == live.refresh_token == sandbox.current_refresh_token()
    # The store knows the Connection holds its own tokens: they do not count as a new authorization.
    assert live.bootstrap_fingerprint == fingerprint(
        extras["access_token"], extras["refresh_token"], extras["expires_at"]
    )

    # A task refreshes next: only the Variable changes (tasks cannot write Connections).
    from airflow.models.connection import Connection

    from lockit_provider.settings import settings_from_connection
    from lockit_provider.tokens.refresher_factory import build_refresher

    settings = settings_from_connection(Connection.get_connection_from_secrets(conn_id))
    build_refresher(settings).refresh(force=True)
    assert connection_extras(conn_id)["refresh_token"] != sandbox.current_refresh_token()

    synced = cli.run("status", "--conn-id", conn_id, "--sync", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["source"] == "store"
    assert connection_extras(conn_id)["refresh_token"] == sandbox.current_refresh_token()
    assert sandbox.stats()["invalid_grant"] == 0
