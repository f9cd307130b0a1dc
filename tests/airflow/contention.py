"""Run PROCESSES x THREADS LockitHook callers at one instant and collect what each got."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def race(env: Mapping[str, str], processes: int, threads: int, lead: float = 8.0) -> list[str]:
    """Start the workers, release them together after ``lead`` seconds; return one result per caller."""
    start_at = time.time() + lead  # time enough for every worker to import Airflow and read its connection
    worker_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.airflow.token_worker", str(start_at), str(threads)],
            env=worker_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        (line,) = [x for x in out.splitlines() if x.startswith("RESULTS ")]  # Airflow logs to stdout too
        results.extend(line.removeprefix("RESULTS ").split(" "))
    return results
