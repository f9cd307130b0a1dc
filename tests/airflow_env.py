"""Airflow for tests: a private AIRFLOW_HOME on SQLite, migrated once per session.

The root conftest imports this first, so the environment is set before any test module imports
Airflow (which would otherwise create ~/airflow).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lockit-airflow-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "LOCKIT_STATE_DIR": str(AIRFLOW_HOME / "lockit"),
    # One key for every process of the session: the pytest process, CLI subprocesses and workers all
    # read Variables (Fernet-encrypted at rest) that the others wrote.
    "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
}
os.environ.update(AIRFLOW_ENV)
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metadata DB once and return AIRFLOW_HOME."""
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return AIRFLOW_HOME
