"""`airflow lockit status` answers a bad connection with one line, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.airflow_env import AIRFLOW_BIN, AIRFLOW_ENV

pytestmark = pytest.mark.timeout(180)


def test_status_with_expiry_in_milliseconds_prints_one_line(airflow_db) -> None:
    connection = {
        "conn_type": "lockit",
        "host": "https://api.example.com",
        "login": "lockit-client",
        "password": "client-secret-ab12cd",
        "extra": {"refresh_token": "refresh-77e1d0c4b9", "expires_at": int(time.time() * 1000)},
    }
    env = {**os.environ, **AIRFLOW_ENV, "AIRFLOW_CONN_LOCKIT_MS": json.dumps(connection)}
    result = subprocess.run(
        [AIRFLOW_BIN, "lockit", "status", "--conn-id", "lockit_ms"],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("lockit status:")]
    assert "'expires_at'" in line and "divide by 1000" in line
    assert "client-secret-ab12cd" not in result.stderr + result.stdout
    assert "refresh-77e1d0c4b9" not in result.stderr + result.stdout
