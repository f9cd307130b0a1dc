"""A real Airflow for the demo: API server, scheduler, DAG processor and triggerer on SQLite.

The four components run as ``airflow <component>`` processes in one process group of their own
(task processes inherit it; :class:`~lockit_provider.demo.process_group.ProcessGroup`), so stopping
signals that group and nothing else on the machine. The demo talks to Airflow as a user's script
would: through the REST API, logged in with the simple auth manager's generated admin password.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from lockit_provider.demo.process_group import ProcessGroup

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("scheduler", "triggerer", "dag_processor")
ADMIN = "admin"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_bin() -> str:
    """Return the ``airflow`` executable next to this Python."""
    return str(Path(sys.executable).with_name("airflow"))


class AirflowComponents:
    """Start, drive and stop one Airflow deployment in ``home`` (SQLite, LocalExecutor)."""

    def __init__(self, home: Path, dags_folder: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # A task's first Execution API calls can outlast the 5 s default on a busy machine.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            **env,
        }
        self.log_dir = home / "component-logs"
        self.processes = ProcessGroup()
        self._session = requests.Session()

    def cli(self, *args: str) -> str:
        """Run an ``airflow`` command against this home and return its output; exit on failure."""
        result = subprocess.run(
            [airflow_bin(), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise SystemExit(f"demo: airflow {' '.join(args)} failed ({result.returncode}):\n{tail}")
        return result.stdout

    def migrate(self, cache: Path) -> bool:
        """Create the metadata DB, from a migrated copy in ``cache`` when one exists; True if copied.

        ``airflow db migrate`` on a fresh SQLite file takes 5-20 s here; the first run keeps its result
        (database and the ``airflow.cfg`` with the keys generated for it) for the next runs.
        """
        files = ("airflow.db", "airflow.cfg")
        if all((cache / name).exists() for name in files):
            for name in files:
                shutil.copy2(cache / name, self.home / name)
            return True
        self.cli("db", "migrate")
        cache.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy2(self.home / name, cache / name)
        return False

    def start(self) -> None:
        """Start the four components in one new process group; their output goes to ``log_dir``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            self.processes.start(name, [airflow_bin(), name], self.env, self.log_dir / f"{name}.log")

    def wait_until_healthy(self, timeout: float = 150) -> None:
        """Wait until the API answers and reports the scheduler, triggerer and DAG processor healthy."""

        def healthy() -> bool:
            health = self._get_json("/api/v2/monitor/health")
            return bool(health) and all(
                (health.get(key) or {}).get("status") == "healthy" for key in HEALTH_KEYS
            )

        self.wait_until(healthy, timeout, "Airflow to be healthy")

    def login(self) -> str:
        """Log in as the admin the simple auth manager generated; return its password (for the UI)."""
        path = self.home / "simple_auth_manager_passwords.json.generated"
        password = str(json.loads(path.read_text())[ADMIN])
        response = self._session.post(
            f"{self.url}/auth/token", json={"username": ADMIN, "password": password}, timeout=30
        )
        response.raise_for_status()
        self._session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return password

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API and return the decoded JSON body.

        A 500 is retried a few times: SQLite serialises writers, and the API server can fail a request
        with "database is locked" while the scheduler writes.
        """
        for attempt in range(5):
            response = self._session.request(method, f"{self.url}{path}", timeout=30, **kwargs)
            if response.status_code != 500 or attempt == 4:
                break
            time.sleep(1)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Check ``condition`` twice a second until it returns a truthy value; return that value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.processes.exited()
            if exited:
                raise SystemExit(
                    f"demo: airflow {exited} exited while waiting for {what}:\n{self.tail(exited)}"
                )
            value = condition()
            if value:
                return value
            time.sleep(0.5)
        raise SystemExit(f"demo: timed out after {timeout:g} s waiting for {what}")

    def tail(self, name: str, lines: int = 30) -> str:
        """Return the last lines a component wrote."""
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> bool:
        """Stop every component and task process (their process group); True when none is left."""
        return self.processes.stop()

    def _get_json(self, path: str) -> Any:
        try:
            response = self._session.get(f"{self.url}{path}", timeout=10)
        except requests.RequestException:
            return None
        return response.json() if response.ok else None
