"""Per-call overhead of LockitHook against a raw requests.Session and the HTTP provider's HttpHook.

One sandbox process serves all three clients the same call, ``GET /projects`` decoded as JSON:

- ``raw``: a ``requests.Session`` with a static ``Authorization: Bearer`` header (the floor);
- ``lockit``: one ``LockitHook`` reused for every call (token from its refresher, retry policy,
  redaction, error mapping), as a task uses it;
- ``http``: ``HttpHook.run`` with the bearer header in the connection's extras.

Calls alternate between the clients one by one, in several rounds; the report gives each client's
median per-call time over the rounds, and ratios as the median of the per-round ratios (paired).
Targets: lockit within 10 % of raw, faster than HttpHook.

Run: ``.venv/bin/python bench/hook_overhead.py [--rounds 11] [--calls 150]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.sandbox_process import SandboxProcess

sys.path.insert(0, str(Path(__file__).parent))
from triggerer_scale import bench_connections

Client = Callable[[], Any]


def configure_airflow(home: Path, sandbox_url: str, tokens: dict[str, Any]) -> None:
    """Give both hooks their connections through ``AIRFLOW_CONN_*`` (no metadata DB needed)."""
    conns = bench_connections(sandbox_url, tokens)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "LOCKIT_STATE_DIR": str(home / "lockit"),
            **{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()},
        }
    )


def build_clients(sandbox_url: str, token: str) -> dict[str, Client]:
    """Return the three clients, each a no-argument call returning the decoded projects."""
    from airflow.providers.http.hooks.http import HttpHook

    from lockit_provider.hooks.lockit import LockitHook
    from lockit_provider.oauth.store import MemoryStore

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def raw() -> Any:
        response = session.get(f"{sandbox_url}/projects", timeout=(10, 30))
        response.raise_for_status()
        return response.json()

    lockit = LockitHook("lockit_bench", token_store=MemoryStore())
    http = HttpHook(method="GET", http_conn_id="http_bench")
    return {
        "raw": raw,
        "lockit": lockit.get_projects,
        "http": lambda: http.run("/projects").json(),
    }


def measure(clients: dict[str, Client], rounds: int, calls: int) -> dict[str, list[float]]:
    """Return each client's mean seconds per call in each round.

    Calls alternate between the clients one by one (in an order that rotates every call), so load
    from other processes falls on all of them alike.
    """
    for client in clients.values():  # warm up: connections, the token, lazy imports
        for _ in range(20):
            client()
    names = list(clients)
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for _ in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        for index in range(calls):
            for name in names[index % len(names) :] + names[: index % len(names)]:
                started = clock()
                clients[name]()
                spent[name] += clock() - started
        for name in names:
            samples[name].append(spent[name] / calls)
    return samples


def paired_ratio(samples: dict[str, list[float]], top: str, bottom: str) -> float:
    """Return the median over rounds of the ratio of two clients' times in the same round."""
    return statistics.median(a / b for a, b in zip(samples[top], samples[bottom], strict=True))


def report(samples: dict[str, list[float]]) -> dict[str, float]:
    """Print medians and ratios; return the ratios."""
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        spread = f"{min(values) * 1e6:.0f}-{max(values) * 1e6:.0f}"
        print(f"{name:>7}: median {medians[name] * 1e6:7.1f} us/call (rounds {spread} us)")
    ratios = {
        "lockit/raw": paired_ratio(samples, "lockit", "raw"),
        "lockit/http": paired_ratio(samples, "lockit", "http"),
        "http/raw": paired_ratio(samples, "http", "raw"),
    }
    overhead = (medians["lockit"] - medians["raw"]) * 1e6
    print(f"LockitHook overhead over raw requests: {overhead:+.1f} us/call")
    for name, ratio in ratios.items():
        print(f"{name:>11}: {ratio:.3f}")
    verdicts = {
        "within 10 % of raw requests": ratios["lockit/raw"] <= 1.10,
        "faster than HttpHook": ratios["lockit/http"] < 1.0,
    }
    for target, met in verdicts.items():
        print(f"target {target}: {'met' if met else 'MISSED'}")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockit-bench-") as home, SandboxProcess() as sandbox:
        tokens = sandbox.issue_tokens()
        configure_airflow(Path(home), sandbox.url, tokens)
        clients = build_clients(sandbox.url, tokens["access_token"])
        print(f"GET /projects, {args.rounds} rounds x {args.calls} calls per client, call by call")
        report(measure(clients, args.rounds, args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
