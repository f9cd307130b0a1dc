"""A real ``airflow triggerer`` picking up N deferred LockitSensors, side by side with N HttpSensors.

Airflow 3.3 on SQLite in a private AIRFLOW_HOME: the scheduler, DAG processor and API server run N
mapped ``LockitSensor`` task instances and N mapped ``HttpSensor`` ones (static bearer header), each
poking its own path that the sandbox answers 404, until every one of them is deferred. Their triggers
are on two trigger queues (``[triggerer] queues_enabled``). Then, with the scheduler and DAG processor
stopped, ``airflow triggerer --queues lockit`` runs alone for a while, then ``--queues http``, then
N of Airflow's own ``TimeDeltaSensor`` (a trigger that only sleeps: what loading N triggers costs),
then one on a queue with no trigger (what Airflow's triggerer itself costs).

For each it reports: the triggerer's peak RSS (supervisor + trigger runner), start-up until every
trigger has polled twice (from the sandbox's request log, per path), the longest event-loop block
seen by Airflow's own watchdog (its threshold lowered to log every block over ~20 ms), how many blocks
would have been warned about at the default 0.2 s threshold, and any "deadlocked" heartbeat line.
A probe (``bench/loop_probe``) says what blocked: each loop step over 50 ms, in a trigger's own code,
in Airflow's, or in a garbage collection.

Run: ``.venv/bin/python bench/real_triggerer.py [--n 200] [--window 40]``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lockit_provider.sandbox import data  # noqa: E402 - after the path set-up
from tests.e2e.stack import BIN_DIR, AirflowStack  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from triggerer_scale import bench_connections  # noqa: E402 - a sibling script

WATCHDOG_THRESHOLD = 0.12  # the watchdog sleeps 0.1 s: this logs every block over ~20 ms
DEFAULT_THRESHOLD = 0.2  # Airflow's default: what a deployment would be warned about
BLOCKED = re.compile(r"async thread was blocked for ([0-9.]+) seconds")
KEPT_LOGS = Path(tempfile.gettempdir()) / "lockit-real-triggerer-logs"  # the triggerers' logs, kept
PROBE = Path(__file__).parent / "loop_probe"  # a sitecustomize that times each loop step (see there)
SLOW_STEP_MS = 50.0
ITERATION_WARNED_MS = 100.0
PROBE_OPTIONS = {k: v for k, v in os.environ.items() if k.startswith("LOCKIT_PROBE_")}  # e.g. _GC_TYPES
DAG_PREFIX = "bench_"  # trigger tasks are named after their task instance: "<dag_id>/<run_id>/..."
REQUEST_LINE = re.compile(r'"GET (/projects/[0-9a-f]+/scenes/([0-9a-f]+)) HTTP')

DAG_FILE = """
import os
from datetime import timedelta
from airflow.sdk import DAG
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.providers.http.sensors.http import HttpSensor
from lockit_provider.sensors.lockit import LockitSensor

N = int(os.environ["BENCH_N"])
PATH = "/projects/{series}/scenes/{{kind}}{{index:031x}}"

with DAG("bench_lockit_sensors", schedule=None, max_active_tasks=2000):
    LockitSensor.partial(
        task_id="wait", lockit_conn_id="lockit_bench", poke_interval=1, pending_statuses=[404],
        deferrable=True, queue="lockit", timeout=3600,
    ).expand(endpoint=[PATH.format(kind="a", index=i) for i in range(N)])

with DAG("bench_http_sensors", schedule=None, max_active_tasks=2000):
    HttpSensor.partial(
        task_id="wait", http_conn_id="http_bench", poke_interval=1, deferrable=True, queue="http",
        timeout=3600,
    ).expand(endpoint=[PATH.format(kind="b", index=i) for i in range(N)])

# Airflow's own trigger (DateTimeTrigger: one sleep, no I/O): what loading N triggers costs anyway.
with DAG("bench_core_sensors", schedule=None, max_active_tasks=2000):
    TimeDeltaSensor.partial(task_id="wait", deferrable=True, queue="core").expand(
        delta=[timedelta(days=1, seconds=i) for i in range(N)]
    )
"""


class LoggedSandbox:
    """The sandbox as a process that logs every request; counts requests per path as they arrive."""

    def __init__(self) -> None:
        self.url = ""
        self.polls: dict[str, list[float]] = collections.defaultdict(list)
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> LoggedSandbox:
        """Start it and wait for its URL."""
        command = [sys.executable, "-m", "lockit_provider.sandbox", "--port", "0", "--verbose"]
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("LOCKIT_SANDBOX_URL="):
                self.url = line.strip().split("=", 1)[1]
                break
        threading.Thread(target=self._read_log, daemon=True).start()
        return self

    def _read_log(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            match = REQUEST_LINE.search(line)
            if match:
                self.polls[match.group(2)].append(time.monotonic())

    def stop(self) -> None:
        """Stop it."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def control(self, method: str, name: str, **kwargs: Any) -> Any:
        """Call a ``/_sandbox/`` route."""
        response = requests.request(method, f"{self.url}/_sandbox/{name}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def connections(sandbox: LoggedSandbox) -> dict[str, str]:
    """Return both connections as JSON (tokens just issued); they go into the metadata DB.

    In the DB, not in ``AIRFLOW_CONN_*``: a triggerer then reads both through its Execution API, as in
    most deployments, and both kinds pay for it alike.
    """
    conns = bench_connections(sandbox.url, sandbox.control("POST", "issue-tokens"))
    return {conn_id: json.dumps(conn) for conn_id, conn in conns.items()}


def stack_env(n: int) -> dict[str, str]:
    """Return the settings of every Airflow process."""
    return {
        "BENCH_N": str(n),
        "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "True",
        "AIRFLOW__TRIGGERER__BLOCKED_MAIN_THREAD_WARNING_THRESHOLD": str(WATCHDOG_THRESHOLD),
        "AIRFLOW__TRIGGERER__CAPACITY": "5000",
        "AIRFLOW__CORE__PARALLELISM": "24",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2000",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
    }


def start(
    stack: AirflowStack, *args: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start one Airflow component in its own session, logging to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN_DIR / "airflow"), *args],
            env={**stack.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a component and its children."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def deferred(stack: AirflowStack, dag_id: str, run_id: str) -> int:
    """Return how many task instances of a run are deferred."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    return int(stack.api("GET", path, params={"state": "deferred", "limit": 1})["total_entries"])


def tree_rss_mb(proc: psutil.Process) -> float:
    """Return the RSS of a process and its children in MB."""
    try:
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.Error:
        return 0.0


def measure_triggerer(
    stack: AirflowStack, sandbox: LoggedSandbox, queue: str, prefix: str, n: int, window: float, log: Path
) -> dict[str, Any]:
    """Run ``airflow triggerer --queues queue`` for a while; return its figures."""
    sandbox.polls.clear()
    probe_dir = KEPT_LOGS / f"{log.stem}.probe"
    shutil.rmtree(probe_dir, ignore_errors=True)
    probe_dir.mkdir(parents=True)
    probe = {"PYTHONPATH": str(PROBE), "LOCKIT_PROBE_DIR": str(probe_dir), **PROBE_OPTIONS}
    started = time.monotonic()
    proc = start(stack, "triggerer", "--queues", queue, log=log, env=probe)
    ps = psutil.Process(proc.pid)
    peak, polled_twice = 0.0, None
    deadline = started + 600
    while time.monotonic() < deadline:
        peak = max(peak, tree_rss_mb(ps))
        mine = [times for path, times in list(sandbox.polls.items()) if path.startswith(prefix)]
        if polled_twice is None and len(mine) >= n and all(len(times) >= 2 for times in mine):
            polled_twice = time.monotonic() - started
            deadline = time.monotonic() + window
        time.sleep(0.5)
    stop(proc)
    text = log.read_text(errors="replace")
    KEPT_LOGS.mkdir(exist_ok=True)
    (KEPT_LOGS / log.name).write_text(text)
    blocks = [float(value) - 0.1 for value in BLOCKED.findall(text)]
    return {
        "queue": queue,
        "peak_rss_mb": round(peak, 1),
        "every_trigger_polled_twice_s": round(polled_twice, 1) if polled_twice is not None else None,
        "triggers_polled": len([p for p in sandbox.polls if p.startswith(prefix)]),
        "longest_block_s": round(max(blocks, default=0.0), 3),
        "blocks_over_20ms": len(blocks),
        # The log rounds to 0.01 s: a "0.20" may have been 0.204, so it counts (this errs high).
        "warnings_at_default_threshold": sum(1 for b in blocks if b + 0.1 > DEFAULT_THRESHOLD - 0.0051),
        "deadlocked_lines": text.count("appears deadlocked"),
        **loop_steps(probe_dir),
    }


def loop_steps(probe_dir: Path) -> dict[str, Any]:
    """Return the loop steps over 50 ms the probe saw: trigger code, Airflow code, collections, waits.

    A collection runs in whichever step happened to allocate, so it is counted apart; so is the time a
    step spent off the CPU (the machine's other processes, or another thread holding the GIL).
    """
    steps, iterations = [], []
    for path in probe_dir.glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        mine = [record for record in records if "task" in record]
        # Only the trigger runner's loop (the triggerer's log server runs a loop of its own).
        if any(s["task"].startswith(DAG_PREFIX) or "TriggerRunner" in s["coro"] for s in mine):
            steps += mine
            iterations += [record for record in records if "iteration_ms" in record]
    # A step's own work: its CPU time, less the collection it happened to run.
    own = [max(0.0, s["cpu_ms"] - s["gc_ms"]) for s in steps]
    trigger_code = [ms for ms, s in zip(own, steps, strict=True) if s["task"].startswith(DAG_PREFIX)]
    airflow_code = [ms for ms, s in zip(own, steps, strict=True) if not s["task"].startswith(DAG_PREFIX)]
    collections = [s["gc_ms"] for s in steps]
    waited = [max(0.0, s["ms"] - s["cpu_ms"]) for s in steps]

    def over(values: list[float]) -> str:
        slow = [v for v in values if v > SLOW_STEP_MS]
        return f"{len(slow)} (longest {max(values, default=0.0):.0f} ms)"

    # Airflow's watchdog warns (at its default) when its 0.1 s sleep ends over 0.1 s late: when one
    # iteration's steps, however short each, add up to more than that.
    long_iterations = [i for i in iterations if i["iteration_ms"] > ITERATION_WARNED_MS]
    worst = max(iterations, key=lambda i: i["iteration_ms"], default=None)
    return {
        "loop_iterations_over_100ms": f"{len(long_iterations)}"
        + (
            f" (longest {worst['iteration_ms']:.0f} ms: {worst['steps']} steps, {worst['trigger_steps']} "
            f"of triggers for {worst['trigger_ms']:.0f} ms, collections {worst['gc_ms']:.0f} ms)"
            if worst
            else ""
        ),
        "trigger_steps_over_50ms": over(trigger_code),
        "airflow_steps_over_50ms": over(airflow_code),
        "gc_pauses_over_50ms": over(collections),
        "steps_waiting_over_50ms": over(waited),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--window", type=float, default=40.0, help="seconds of polling after start-up")
    parser.add_argument("--keep", help="use (and keep) this AIRFLOW_HOME, logs included")
    parser.add_argument("--rounds", type=int, default=1, help="run the four triggerers this many times")
    args = parser.parse_args()
    sandbox = LoggedSandbox().start()
    components: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="lockit-real-triggerer-") as tmp:
        home = Path(args.keep) if args.keep else Path(tmp)
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        dags = home / "dags"
        dags.mkdir()
        (dags / "bench_sensors.py").write_text(DAG_FILE.format(series=data.SERIES_ID))
        stack = AirflowStack(home, dags, env=stack_env(args.n))
        try:
            stack.airflow("db", "migrate", timeout=300)
            for conn_id, conn_json in connections(sandbox).items():
                stack.airflow("connections", "add", conn_id, "--conn-json", conn_json)
            for component in ("api-server", "scheduler", "dag-processor"):
                components.append(start(stack, component, log=home / f"{component}.log"))
            stack.wait_until(lambda: stack._get_ok("/api/v2/version"), 180, "the API server")
            dag_ids = ("bench_lockit_sensors", "bench_http_sensors", "bench_core_sensors")
            runs = {dag: stack.trigger_dag(dag) for dag in dag_ids}
            began = time.monotonic()
            for dag, run in runs.items():
                stack.wait_until(
                    lambda d=dag, r=run: deferred(stack, d, r) >= args.n, 1800, f"{dag} to defer"
                )
            print(f"{3 * args.n} sensors deferred in {time.monotonic() - began:.0f} s", flush=True)
            for proc in components[1:]:  # the API server stays: the triggerer reads connections through it
                stop(proc)
            # The third triggerer serves an empty queue: what Airflow's triggerer costs with no trigger.
            rounds = [
                [
                    measure_triggerer(stack, sandbox, q, p, n, window, home / f"triggerer-{q}-{r}.log")
                    for q, p, n, window in (
                        ("lockit", "a", args.n, args.window),
                        ("http", "b", args.n, args.window),
                        ("core", "-", 0, args.window / 2),
                        ("empty", "-", 0, args.window / 2),
                    )
                ]
                for r in range(1, args.rounds + 1)
            ]
        finally:
            for proc in components:
                stop(proc)
            sandbox.stop()
    for number, results in enumerate(rounds, 1):
        print_round(args.n, number, results)
    return 0


def print_round(n: int, number: int, results: list[dict[str, Any]]) -> None:
    """Print one round's table: the four triggerers side by side."""
    print(f"\nN = {n} deferred sensors per kind, one real `airflow triggerer` each (round {number})")
    print("| | LockitSensor | HttpSensor | TimeDeltaSensor (Airflow's) | no trigger |\n|---|---|---|---|---|")
    lockit, http, core, empty = results
    for key in (
        "peak_rss_mb",
        "every_trigger_polled_twice_s",
        "triggers_polled",
        "longest_block_s",
        "blocks_over_20ms",
        "warnings_at_default_threshold",
        "deadlocked_lines",
        "loop_iterations_over_100ms",
        "trigger_steps_over_50ms",
        "airflow_steps_over_50ms",
        "gc_pauses_over_50ms",
        "steps_waiting_over_50ms",
    ):
        print(f"| {key} | {lockit[key]} | {http[key]} | {core[key]} | {empty[key]} |")


if __name__ == "__main__":
    sys.exit(main())
