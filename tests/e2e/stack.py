"""A real Airflow for end-to-end tests: ``airflow standalone`` (scheduler, LocalExecutor, triggerer,
DAG processor, API server) in a private AIRFLOW_HOME on SQLite, driven through the REST API.

Unlike ``airflow dags test``, tasks run in supervised worker processes that cannot touch the ORM and
triggers run in the real triggerer, so token persistence and masking are exercised as in production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from tests.support.connections import free_port
from tests.support.waiting import wait_for

BIN_DIR = Path(sys.executable).parent
TERMINAL_STATES = {"success", "failed"}
# Waits below are against hangs only: a busy machine (SQLite writers queueing behind the scheduler,
# processes starting slowly) must never reach them.
REQUEST_TIMEOUT = 120
IDEMPOTENT = {"GET", "PATCH", "PUT", "DELETE"}


class AirflowStack:
    """Start, drive and stop one ``airflow standalone`` process tree."""

    def __init__(self, home: Path, dags_folder: Path, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "16",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A task's first Execution API calls can take longer than the 5 s default on a busy machine;
            # the task then dies before it runs ("finished with state failed ... state attribute is queued").
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "LOCKIT_STATE_DIR": str(home / "lockit"),
            **(env or {}),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "standalone.log"

    def start(self, timeout: float = 300) -> AirflowStack:
        """Migrate the DB, start ``airflow standalone`` and wait until its API answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=300)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(BIN_DIR / "airflow"), "standalone"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until(lambda: self._get_ok("/api/v2/version"), timeout, "the API server to answer")
        return self

    def stop(self) -> None:
        """Stop the whole process tree (SIGTERM, then SIGKILL after a grace period)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this stack's home; raise on failure."""
        result = subprocess.run(
            [str(BIN_DIR / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (all users are admins here) and return the decoded JSON body.

        A 500 is retried a few times: SQLite serialises writers, and under load the API server can fail
        a request with "database is locked" while the scheduler writes. An idempotent request that timed
        out is retried too; a POST is not (it may have created a run).
        """
        for attempt in range(4):
            last = attempt == 3
            try:
                url = f"{self.base_url}{path}"
                response = requests.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
            except requests.Timeout:
                if last or method.upper() not in IDEMPOTENT:
                    raise
                continue
            if response.status_code != 500 or last:
                break
            time.sleep(2)
        response.raise_for_status()
        return response.json() if response.content else None

    def add_dags(self, files: Mapping[str, str]) -> None:
        """Write DAG files (name to text) into the DAG folder; the DAG processor picks them up."""
        for name, text in files.items():
            (self.dags_folder / name).write_text(text)

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Wait until the DAG processor has parsed ``dag_id``; fail with its import errors if any."""

        def parsed() -> bool:
            errors = self.api("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                raise AssertionError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            return self._get_ok(f"/api/v2/dags/{dag_id}")

        self.wait_until(parsed, timeout, f"DAG {dag_id} to be parsed")

    def run_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = 600) -> str:
        """Trigger ``dag_id``, wait for the run to finish and return its final state."""
        return self.wait_for_run(dag_id, self.trigger_dag(dag_id, conf), timeout)

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause and trigger ``dag_id`` once it is parsed; return the run id."""
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        body = {"logical_date": None, "conf": conf or {}}
        self.last_run_id = str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])
        return self.last_run_id

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Wait until a run finishes and return its final state."""
        state: dict[str, str] = {}

        def finished() -> bool:
            state["value"] = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state["value"] in TERMINAL_STATES

        self.wait_until(finished, timeout, f"run {run_id} of {dag_id} to finish")
        return state["value"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the task instances of a run (mapped ones included)."""
        body = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return list(body["task_instances"])

    def xcom_values(self, dag_id: str, run_id: str) -> list[str]:
        """Return every XCom value of a run as JSON text."""
        values = []
        for ti in self.task_instances(dag_id, run_id):
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries"
            entries = self.api("GET", path, params={"map_index": ti.get("map_index", -1)})["xcom_entries"]
            for entry in entries:
                item = self.api("GET", f"{path}/{entry['key']}", params={"map_index": entry["map_index"]})
                values.append(json.dumps(item.get("value")))
        return values

    def all_logs(self) -> str:
        """Return the text of every log this stack wrote: task logs and the components' own output."""
        chunks = [self.log_path.read_text(errors="replace")] if self.log_path.exists() else []
        for path in sorted((self.home / "logs").rglob("*")):
            if path.is_file():
                chunks.append(path.read_text(errors="replace"))
        return "\n".join(chunks)

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """Return the state of an unmapped task instance of a run."""
        ti = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return ti["state"]

    def dag_logs(self, dag_id: str) -> str:
        """Return the text of every task and trigger log of ``dag_id``."""
        paths = sorted((self.home / "logs" / f"dag_id={dag_id}").rglob("*"))
        return "\n".join(path.read_text(errors="replace") for path in paths if path.is_file())

    def _get_ok(self, path: str) -> bool:
        try:
            return requests.get(f"{self.base_url}{path}", timeout=REQUEST_TIMEOUT).ok
        except requests.RequestException:
            return False

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        """Poll ``condition`` every second until it is true; fail with the stack's log tail on timeout."""

        def met() -> object:
            if self._proc is not None and self._proc.poll() is not None:
                raise AssertionError(f"airflow standalone exited while waiting for {what}:\n{self._tail()}")
            return condition()

        wait_for(met, what, timeout=timeout, interval=1, on_timeout=self._tail)

    def _tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def task_logs(stack: AirflowStack, task_id: str, pattern: str = "attempt=*.log") -> str:
    """Return the text of a task's logs in the stack (``*.trigger.*`` for what its triggers logged)."""
    paths = sorted((stack.home / "logs").rglob(f"task_id={task_id}/**/{pattern}"))
    paths += sorted((stack.home / "logs").rglob(f"task_id={task_id}/{pattern}"))
    return "\n".join(path.read_text(errors="replace") for path in dict.fromkeys(paths))


def deferrals(stack: AirflowStack, task_id: str) -> int:
    """Count how often a task of the stack deferred, from the task logs."""
    return task_logs(stack, task_id).count("Pausing task as DEFERRED")
