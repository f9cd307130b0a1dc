"""A real Airflow 3 CeleryExecutor deployment on one machine that behaves as several hosts.

PostgreSQL holds the metadata and the Celery results; Redis is the broker. The API server, scheduler,
DAG processor and triggerer run as separate processes, and two Celery workers each get their own host
name (a UTS namespace where the machine allows it), Celery node name, pid file, log-server port and
``LOCKIT_STATE_DIR``: they share no lock file, as two machines would not.

The REST helpers (trigger a run, wait for it, read task instances) come from the ``airflow standalone``
harness of the e2e tier; only starting and stopping differ.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from tests.distributed.processes import Component, as_host
from tests.e2e.stack import BIN_DIR, AirflowStack
from tests.support.connections import free_port
from tests.support.waiting import wait_for

AIRFLOW = str(BIN_DIR / "airflow")
WORKER_CONCURRENCY = 10


class CeleryDeployment(AirflowStack):
    """Start, drive and stop API server, scheduler, DAG processor, triggerer and two Celery workers."""

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        database_url: str,
        broker_url: str,
        broker_key_prefix: str,
        queue: str,
        worker_hosts: tuple[str, ...] = ("lockit-host-a", "lockit-host-b"),
        env: Mapping[str, str] | None = None,
    ) -> None:
        celery_env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3: name the driver.
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_url}",
            # Every key Celery writes to the broker starts with this prefix, so teardown can remove
            # exactly this run's keys from a Redis that other runs use too.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": broker_key_prefix,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # Under load the first Execution API calls of a task outlast the 5 s default.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "90",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **(env or {}),
        }
        super().__init__(home, dags_folder, celery_env)
        self.queue = queue
        self.worker_hosts = worker_hosts
        self.components: dict[str, Component] = {}
        self._triggerer_starts = 0
        self.configs_run = 0  # runs of the DAG under a configuration, counted by the tests

    # --- the process tree -------------------------------------------------------------------------

    def state_dir(self, host: str) -> Path:
        """Return the LOCKIT_STATE_DIR of one host (a worker or the triggerer)."""
        return self.home / "hosts" / host / "lockit"

    def start(self, timeout: float = 300) -> CeleryDeployment:
        """Migrate the DB, start every component and wait until each reports that it is ready."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=600)
        self._start(
            "api-server",
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
        )
        self._start("scheduler", [AIRFLOW, "scheduler"])
        self._start("dag-processor", [AIRFLOW, "dag-processor"])
        self.start_triggerer()
        for index, host in enumerate(self.worker_hosts):
            self._start_worker(index, host)
        self.wait_until(lambda: self._get_ok("/api/v2/version"), timeout, "the API server to answer")
        self.wait_until(self._scheduler_healthy, timeout, "the scheduler's heartbeat")
        for index, _ in enumerate(self.worker_hosts):
            worker = self.components[f"worker-{index}"]
            self.wait_for_log(worker, re.compile(r"\bready\."), timeout, f"{worker.name} to be ready")
        self.wait_for_triggerer(timeout)
        return self

    def start_triggerer(self) -> None:
        """Start a triggerer (as a host of its own); see :meth:`wait_for_triggerer`."""
        self._triggerer_starts += 1
        log = self.home / "components" / f"triggerer-{self._triggerer_starts}.log"
        self._start(
            "triggerer",
            as_host("lockit-host-t", [AIRFLOW, "triggerer"]),
            {"LOCKIT_STATE_DIR": str(self.state_dir("lockit-host-t"))},
            log_path=log,
        )

    def restart_triggerer(self) -> None:
        """Stop the triggerer and start a fresh one, so no process keeps a record from an earlier run.

        It starts in the background: :meth:`wait_for_triggerer` waits for it.
        """
        self.components["triggerer"].stop()
        self.start_triggerer()

    def wait_for_triggerer(self, timeout: float = 180) -> None:
        """Wait until the current triggerer process has started its job."""
        triggerer = self.components["triggerer"]
        self.wait_for_log(triggerer, re.compile(r"Starting the triggerer"), timeout, "the triggerer")

    def _start_worker(self, index: int, host: str) -> None:
        name = f"worker-{index}"
        argv = [
            AIRFLOW, "celery", "worker",
            "--celery-hostname", f"{name}@{host}",
            "--queues", self.queue,
            "--concurrency", str(WORKER_CONCURRENCY),
            "--pid", str(self.home / "components" / f"{name}.pid"),
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        env = {
            "LOCKIT_STATE_DIR": str(self.state_dir(host)),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        self._start(name, as_host(host, argv), env)

    def _start(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None, log_path: Path | None = None
    ) -> None:
        log = log_path or self.home / "components" / f"{name}.log"
        self.components[name] = Component(name, argv, {**self.env, **(env or {})}, log).start()

    def stop(self) -> None:
        """Stop every component this deployment started: all are told at once, then each is awaited."""
        components = list(self.components.values())
        for component in components:
            component.terminate()
        for component in components:
            component.stop()

    # --- waiting on events ------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> None:
        """Poll ``condition`` every second; fail at once if a component died, with log tails on timeout."""

        def met() -> object:
            dead = [c for c in self.components.values() if c.proc is not None and not c.running]
            if dead:
                raise AssertionError(f"{dead[0].name} exited while waiting for {what}:\n{self._tail()}")
            return condition()

        wait_for(met, what, timeout=timeout, interval=1, on_timeout=self._tail)

    def wait_for_log(self, component: Component, pattern: re.Pattern[str], timeout: float, what: str) -> None:
        """Wait until ``component`` has written a line that matches ``pattern``."""
        self.wait_until(lambda: pattern.search(component.log_text()) is not None, timeout, what)

    def _scheduler_healthy(self) -> bool:
        try:
            health = self.api("GET", "/api/v2/monitor/health")
        except Exception:
            return False
        return bool(health.get("scheduler", {}).get("status") == "healthy")

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(component.tail(lines) for component in self.components.values())

    # --- reading results --------------------------------------------------------------------------

    def all_logs(self) -> str:
        """Return every component's output and every task log."""
        chunks = [p.read_text(errors="replace") for p in sorted((self.home / "components").glob("*.log"))]
        chunks += [
            p.read_text(errors="replace") for p in sorted((self.home / "logs").rglob("*")) if p.is_file()
        ]
        return "\n".join(chunks)

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[int, str]:
        """Return the log text of each map index (-1 for an unmapped task) of one task in one run."""
        logs: dict[int, str] = {}
        base = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        for path in sorted(base.rglob("*.log")):
            match = re.search(r"map_index=(\d+)", str(path.relative_to(base)))
            index = int(match.group(1)) if match else -1
            logs[index] = logs.get(index, "") + path.read_text(errors="replace")
        return logs

    def variable(self, key: str) -> str:
        """Return a Variable's value as the CLI prints it ("" when it does not exist)."""
        try:
            return self.airflow("variables", "get", key).stdout
        except RuntimeError:
            return ""

    def delete_variable(self, key: str) -> None:
        """Delete a Variable through the REST API if it exists."""
        response = requests.delete(f"{self.base_url}/api/v2/variables/{key}", timeout=60)
        if response.status_code != 404:
            response.raise_for_status()

    def put_connection(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        """Create or replace a connection through the REST API, as the UI's form does.

        ``fields`` is the ``AIRFLOW_CONN_*`` JSON shape (``extra`` a dict). A failure's message names the
        URL and status only, never the body (which carries secrets).
        """
        body = {key: value for key, value in fields.items() if key != "extra"}
        body.update(connection_id=conn_id, extra=json.dumps(fields.get("extra") or {}))
        response = requests.delete(f"{self.base_url}/api/v2/connections/{conn_id}", timeout=60)
        if response.status_code != 404:
            response.raise_for_status()
        self.api("POST", "/api/v2/connections", json=body)
