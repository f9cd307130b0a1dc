"""Import cost at DAG parse time: lockit_provider.operators.lockit against the HTTP provider's operator.

A DAG file imports ``airflow.sdk`` anyway, so each fresh interpreter first imports it (and
``BaseOperator``) and then the module under test. Two numbers per module, both medians over
interleaved rounds of fresh interpreters:

- ``importtime``: the module's cumulative time from ``-X importtime`` (only what it adds on top of
  ``airflow.sdk``, since that is already loaded);
- ``wall``: the interpreter's wall time minus the median wall time of the baseline alone.

Target: the Lockit operator module is no heavier to import than the HTTP operator module.

Run: ``.venv/bin/python bench/import_cost.py [--rounds 7]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

BASELINE = "import airflow.sdk; from airflow.sdk import BaseOperator, BaseSensorOperator, dag"
MODULES = {
    "lockit operator": "lockit_provider.operators.lockit",
    "lockit sensor": "lockit_provider.sensors.lockit",
    "http operator": "airflow.providers.http.operators.http",
}


def run(module: str | None, env: dict[str, str]) -> tuple[float, float]:
    """Import the baseline (and ``module``) in a fresh interpreter; return (wall s, importtime s)."""
    code = BASELINE if module is None else f"{BASELINE}; import {module}"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    if module is None:
        return wall, 0.0
    # Lines read "import time: self | cumulative | <indent>name"; the module is a top-level entry.
    match = re.search(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", result.stderr, re.M)
    if match is None:
        raise RuntimeError(f"no importtime line for {module}")
    return wall, int(match.group(1)) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockit-import-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home}
        run(None, env)  # warm the file system cache and compile bytecode first
        for module in MODULES.values():
            run(module, env)
        names = [None, *MODULES.values()]
        walls: dict[str | None, list[float]] = {name: [] for name in names}
        own: dict[str | None, list[float]] = {name: [] for name in names}
        for index in range(args.rounds):
            for name in names[index % len(names) :] + names[: index % len(names)]:
                wall, importtime = run(name, env)
                walls[name].append(wall)
                own[name].append(importtime)
    base = statistics.median(walls[None])
    print(f"baseline (airflow.sdk + BaseOperator): median wall {base * 1000:.0f} ms, {args.rounds} rounds")
    costs = {}
    for label, module in MODULES.items():
        costs[label] = statistics.median(own[module])
        extra = statistics.median(walls[module]) - base
        own_ms, extra_ms = costs[label] * 1000, extra * 1000
        print(f"{label:>15}: importtime {own_ms:6.1f} ms, wall over baseline {extra_ms:+6.0f} ms")
    ratio = costs["lockit operator"] / costs["http operator"]
    print(f"lockit operator / http operator (importtime): {ratio:.3f}")
    met = ratio <= 1.0
    print(f"target no heavier to import than the HTTP operator: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
