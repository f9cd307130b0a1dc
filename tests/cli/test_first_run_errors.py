"""The first hour's errors, each one line with the fix: no metadata DB, a private CA, a wrong URL.

Every run is a real ``airflow lockit`` subprocess; the TLS cases run against the sandbox's HTTPS
with its throw-away CA.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from tests.airflow_env import AIRFLOW_BIN
from tests.cli.harness import CLI_ENV, connection_flags
from tests.support.airflow_db import connection_extras, variable_record
from tests.support.connections import free_port, new_conn_id

pytestmark = pytest.mark.timeout(240)


def assert_one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("authorize", "--client-id", "c", "--client-secret", "s"),
        ("status",),
        ("refresh",),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_fresh_airflow_home_says_run_db_migrate(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "airflow"
    env = {
        **CLI_ENV,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "LOCKIT_STATE_DIR": str(tmp_path / "lockit"),
    }
    done = subprocess.run(
        [AIRFLOW_BIN, "lockit", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    line = assert_one_line(done.stderr)
    assert line.startswith(f"lockit {args[0]}: the Airflow metadata DB sqlite:///{home}/airflow.db")
    assert "run `airflow db migrate`" in line
    assert done.stdout == ""


def test_a_private_ca_fails_before_the_browser_step_and_names_ca_bundle(cli, start_sandbox):
    sandbox = start_sandbox(tls=True)
    conn_id = new_conn_id()

    run = cli.run("authorize", "--conn-id", conn_id, *connection_flags(sandbox), "--no-browser")

    assert run.returncode == 1
    line = assert_one_line(run.stderr.replace(f"Created connection '{conn_id}' in the metadata DB.", ""))
    port = sandbox.url.rsplit(":", 1)[1]
    assert line.startswith(f"lockit authorize: TLS with 127.0.0.1:{port} failed: certificate verify failed:")
    assert "(SSLCertVerificationError)" in line
    assert "extra 'ca_bundle' is not set" in line and "--ca-bundle PATH" in line
    assert "http" not in run.stdout  # no authorization URL: nobody was sent to consent
    stats = sandbox.stats()
    assert stats["token_requests"] == {}


def test_a_wrong_ca_bundle_is_named_in_the_error(cli, start_sandbox):
    sandbox = start_sandbox(tls=True)
    other = start_sandbox(tls=True)  # a CA, but not the one that signed this server's certificate
    conn_id = new_conn_id()

    run = cli.run(
        "authorize",
        "--conn-id",
        conn_id,
        *connection_flags(sandbox),
        "--ca-bundle",
        other.ca_cert_path,
        "--no-browser",
    )

    assert run.returncode == 1
    assert f"extra 'ca_bundle' is '{other.ca_cert_path}'" in run.stderr
    assert "certificate verify failed" in run.stderr
    assert "http" not in run.stdout


def test_ca_bundle_option_is_stored_and_the_grant_completes_over_https(cli, start_sandbox):
    sandbox = start_sandbox(tls=True)
    conn_id = new_conn_id()
    running = cli.start(
        "authorize",
        "--conn-id",
        conn_id,
        *connection_flags(sandbox),
        "--ca-bundle",
        sandbox.ca_cert_path,
        "--no-browser",
    )
    url = running.read_url()
    assert url.startswith("https://")

    page = requests.get(url, verify=sandbox.ca_cert_path, timeout=30)  # the browser trusts the CA too

    assert page.status_code == 200 and "Authorization complete" in page.text
    run = running.finish()
    assert run.returncode == 0, run.stderr
    assert "lists 3 project(s)" in run.stdout
    extras = connection_extras(conn_id)
    assert extras is not None
    assert extras["ca_bundle"] == str(Path(sandbox.ca_cert_path).resolve())
    assert variable_record(f"lockit_token__{conn_id}") is not None

    status = cli.run("refresh", "--conn-id", conn_id)
    assert status.returncode == 0, status.stderr


def test_a_missing_ca_bundle_file_is_refused(cli, start_sandbox, tmp_path):
    sandbox = start_sandbox(tls=True)
    missing = tmp_path / "no-such-ca.pem"

    run = cli.run(
        "authorize", "--conn-id", new_conn_id(), *connection_flags(sandbox), "--ca-bundle", str(missing)
    )

    assert run.returncode == 1
    assert assert_one_line(run.stderr) == (
        f"lockit authorize: --ca-bundle: '{missing}' is not a file; give the path of the CA's PEM file"
    )


def test_an_unreachable_token_endpoint_fails_before_the_browser_step(cli, start_sandbox):
    sandbox = start_sandbox()
    port = free_port()  # nothing listens here
    flags = connection_flags(sandbox)
    flags[flags.index("--api-url") + 1] = f"http://127.0.0.1:{port}"
    conn_id = new_conn_id()

    run = cli.run("authorize", "--conn-id", conn_id, *flags, "--no-browser")

    assert run.returncode == 1
    line = assert_one_line(run.stderr.replace(f"Created connection '{conn_id}' in the metadata DB.", ""))
    assert line.startswith(f"lockit authorize: cannot reach the token endpoint 127.0.0.1:{port} (")
    assert "--api-url" in line
    assert "http" not in run.stdout
