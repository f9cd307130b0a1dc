"""One run of the distributed DAG against a fresh grant, and what it measured.

The connection is created as a user would create it: host, client id and secret, redirect URI and the
tokens of a finished authorization, plus whatever lock extras the configuration names. Nothing that
this module prints or asserts carries a token.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lockit_provider.sandbox.data import SERIES_DAY_IDS, SERIES_ID
from lockit_provider.settings import DEFAULT_REDIRECT_URI, token_variable_name
from tests.distributed.dags.lockit_distributed import SENSORS, TASKS, sensor_clip
from tests.distributed.deployment import CeleryDeployment
from tests.e2e.sandbox_process import SandboxProcess
from tests.support.connections import connection_json

DAG_ID = "lockit_distributed"
CONN_ID = "lockit_default"
EXPIRES_IN = 8
SANDBOX_FLAGS = ("--refresh-policy", "rotate-revoke", "--expires-in", str(EXPIRES_IN), "--auto-approve")
FINISHED = {"success", "failed", "upstream_failed", "skipped", "removed"}
RUN_DONE = {"success", "failed"}
MAPPED_TASK = "call_api"


def refreshes(sandbox: SandboxProcess) -> int:
    """Return how many refresh_token grants reached the sandbox."""
    return int(sandbox.stats()["token_requests"].get("refresh_token", 0))


def write_connections(
    deployment: CeleryDeployment,
    sandbox: SandboxProcess,
    extras: Mapping[str, Any],
    others: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Authorize a new grant and store ``lockit_default`` (plus ``others``) through the REST API.

    The live token Variable of an earlier run is deleted first, as on a freshly authorized deployment.
    """
    deployment.delete_variable(token_variable_name(CONN_ID))
    for conn_id, fields in (others or {}).items():
        deployment.put_connection(conn_id, fields)
    tokens = sandbox.issue_tokens()
    lockit = json.loads(connection_json(sandbox.url, tokens, redirect_uri=DEFAULT_REDIRECT_URI, **extras))
    deployment.put_connection(CONN_ID, lockit)


@dataclass
class RunResult:
    """What one run of the DAG did, as seen through the REST API, the sandbox and the logs."""

    config: str
    state: str
    run_id: str
    instances: list[dict[str, Any]]
    stats: dict[str, Any]
    variable: str
    span: float
    wall: float
    deferred: set[str] = field(default_factory=set)
    status: dict[str, Any] = field(default_factory=dict)
    triggerer_blocked: list[float] = field(default_factory=list)

    @property
    def lock(self) -> str:
        """Return the lock ``airflow lockit status`` says is in force."""
        return str(self.status.get("lock"))

    @property
    def refreshed_by(self) -> list[str]:
        """Return the hosts the live record says refreshed it recently (newest first)."""
        hosts: dict[str, None] = {}
        for refresher in self.status.get("recent_refreshers") or []:
            hosts.setdefault(str(refresher.get("actor", "")).partition("/")[0], None)
        return list(hosts)

    @property
    def windows(self) -> int:
        """Return the expiry windows the run spanned (run start to run end, observed)."""
        return max(1, math.ceil(self.span / EXPIRES_IN))

    @property
    def refreshes(self) -> int:
        """Return the refresh_token grants the sandbox saw."""
        return int(self.stats["token_requests"].get("refresh_token", 0))

    @property
    def invalid_grant(self) -> int:
        """Return the invalid_grant answers the sandbox gave."""
        return int(self.stats["invalid_grant"])

    @property
    def grant(self) -> dict[str, Any]:
        """Return the sandbox's view of the run's only grant."""
        (grant,) = self.stats["grants"]
        return dict(grant)

    @property
    def variable_holds_current(self) -> bool:
        """Tell whether the token Variable holds the refresh token the sandbox considers current."""
        current = self.grant["current_refresh_token"]
        return bool(current) and current in self.variable

    def ok(self, task_id: str | None = None) -> int:
        """Return how many task instances (of ``task_id``, or all) succeeded."""
        return sum(1 for ti in self.select(task_id) if ti["state"] == "success")

    def select(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Return the task instances of ``task_id`` (or all)."""
        return [ti for ti in self.instances if task_id is None or ti["task_id"] == task_id]

    def states(self) -> list[tuple[str, int, str]]:
        """Return (task, map index, state) of every task instance that did not succeed."""
        return [
            (ti["task_id"], ti.get("map_index", -1), ti["state"])
            for ti in self.select()
            if ti["state"] != "success"
        ]

    def summary(self) -> str:
        """Return the one-line summary for the lead's table."""
        return (
            f"DISTRIBUTED {self.config}: run {self.state}, tasks ok {self.ok()}/{len(self.instances)} "
            f"(mapped {self.ok(MAPPED_TASK)}/{TASKS}, sensors deferred {len(self.deferred)}/{SENSORS}), "
            f"refreshes/windows {self.refreshes}/{self.windows} (run span {self.span:.0f} s), "
            f"invalid_grant {self.invalid_grant}, grant {'revoked' if self.grant['revoked'] else 'alive'}, "
            f"variable current {self.variable_holds_current}, wall {self.wall:.0f} s; "
            f"lock: {self.lock}; refreshed by {', '.join(self.refreshed_by) or 'nobody'}; "
            f"triggerer loop blocked > 0.2 s: {len(self.triggerer_blocked)} times"
            f"{f' (max {max(self.triggerer_blocked):.2f} s)' if self.triggerer_blocked else ''}"
        )


def run_dag(
    config: str,
    deployment: CeleryDeployment,
    sandbox: SandboxProcess,
    *,
    duration: float = 50,
    timeout: float = 480,
    on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
) -> RunResult:
    """Trigger the DAG and follow it to the end.

    Once every mapped task has finished, the sensors' clips are made to appear, so the sensors wait in
    the triggerer for the whole time the tasks run. ``on_poll`` sees the task instances every second.
    """
    deployment.wait_for_triggerer()
    started = time.monotonic()
    run_id = deployment.trigger_dag(DAG_ID, {"duration": duration, "pause": 0.3})
    deferred: set[str] = set()
    state = {"clips": False, "run": ""}

    def finished() -> bool:
        instances = deployment.task_instances(DAG_ID, run_id)
        deferred.update(ti["task_id"] for ti in instances if ti["state"] == "deferred")
        if on_poll is not None:
            on_poll(instances)
        mapped = [ti for ti in instances if ti["task_id"] == MAPPED_TASK and ti.get("map_index", -1) >= 0]
        if not state["clips"] and len(mapped) == TASKS and all(ti["state"] in FINISHED for ti in mapped):
            clips = [sensor_clip(index) for index in range(SENSORS)]
            body = {"project": SERIES_ID, "day": SERIES_DAY_IDS[0], "clips": clips, "after": 0}
            sandbox.control("POST", "clips", json=body)
            state["clips"] = True
        state["run"] = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        return state["run"] in RUN_DONE

    deployment.wait_until(finished, timeout, f"run {run_id} to finish")
    wall = time.monotonic() - started
    run = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    span = (_when(run["end_date"]) - _when(run["start_date"])).total_seconds()
    with ThreadPoolExecutor(2) as pool:
        variable = pool.submit(deployment.variable, token_variable_name(CONN_ID))
        status = pool.submit(lock_status, deployment)
    return RunResult(
        config=config,
        state=state["run"],
        run_id=run_id,
        instances=deployment.task_instances(DAG_ID, run_id),
        stats=sandbox.stats(),
        variable=variable.result(),
        span=span,
        wall=wall,
        deferred=deferred,
        status=status.result(),
        triggerer_blocked=[
            float(seconds)
            for seconds in re.findall(
                r"blocked for ([\d.]+) seconds", deployment.components["triggerer"].log_text()
            )
        ],
    )


def lock_status(deployment: CeleryDeployment) -> dict[str, Any]:
    """Return ``airflow lockit status --json`` for the connection (it prints no secret)."""
    try:
        out = deployment.airflow("lockit", "status", "--conn-id", CONN_ID, "--json").stdout
    except RuntimeError as err:
        return {"lock": f"(status failed: {str(err).splitlines()[0]})"}
    start = out.find("{")
    try:
        return dict(json.loads(out[start:])) if start >= 0 else {}
    except ValueError:
        return {"lock": "(status printed no JSON)"}


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def log_lines(text: str, needle: str) -> list[str]:
    """Return the lines of ``text`` that contain ``needle``."""
    return [line for line in text.splitlines() if needle in line]
