"""``python -m lockit_provider.sandbox``: the URL line, serving, clean exit, flag errors."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def launch():
    """Start the CLI with extra flags; kill any process still running at teardown."""
    procs = []

    def start(*flags):
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockit_provider.sandbox", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)


def test_cli_prints_the_url_serves_and_exits_cleanly_on_sigterm(launch):
    proc = launch("--auto-approve", "--refresh-policy", "rotate-revoke")
    line = proc.stdout.readline().strip()
    assert line.startswith("LOCKIT_SANDBOX_URL=http://127.0.0.1:")
    url = line.split("=", 1)[1]
    token = requests.post(url + "/_sandbox/issue-tokens", timeout=5).json()
    assert requests.get(
        url + "/projects", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    ).ok
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == ""  # exactly one stdout line in all
    assert "Traceback" not in err and "GET /projects" not in err  # quiet by default


def test_cli_exits_cleanly_on_sigint(launch):
    proc = launch()
    assert proc.stdout.readline().startswith("LOCKIT_SANDBOX_URL=")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_cli_tls_prints_the_ca_first(launch):
    proc = launch("--tls")
    ca_line, url_line = proc.stdout.readline().strip(), proc.stdout.readline().strip()
    assert ca_line.startswith("LOCKIT_SANDBOX_CA=")
    assert url_line.startswith("LOCKIT_SANDBOX_URL=https://")
    ca, url = ca_line.split("=", 1)[1], url_line.split("=", 1)[1]
    assert requests.get(url + "/_sandbox/stats", verify=ca, timeout=5).status_code == 200
    proc.terminate()
    proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "flags,named",
    [
        (["--refresh-policy", "sometimes"], "--refresh-policy"),
        (["--refresh-policy", "rotate-grace:-1"], "--refresh-policy"),
        (["--port", "70000"], "--port"),
        (["--expires-in", "0"], "--expires-in"),
        (["--redirect-uri", "not a url"], "--redirect-uri"),
    ],
)
def test_bad_flag_values_are_named(capsys, flags, named):
    from lockit_provider.sandbox.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {named}:" in err


def test_bad_refresh_policy_message_lists_the_choices(launch):
    proc = launch("--refresh-policy", "sometimes")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert out == ""
    assert "argument --refresh-policy: refresh policy must be one of static, static-omit, rotate" in err


def test_the_sandbox_imports_neither_airflow_nor_requests():
    code = (
        "import sys, lockit_provider.sandbox.__main__, lockit_provider.sandbox.server;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'requests', 'cryptography'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert result.stdout.strip() == "[]"
