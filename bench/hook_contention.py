"""Refresh contention through LockitHook: PROCESSES x THREADS callers, one expired token, per policy.

Unlike bench/refresh_contention.py (the OAuth core on a file store), this goes through the Airflow
side: LockitHook, its connection from AIRFLOW_CONN_*, and the Variable token store in a private
SQLite metadata DB. Prints refresh requests, invalid_grant, errors and distinct tokens per policy.

Run: ``.venv/bin/python bench/hook_contention.py [--processes 8] [--threads 8]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLICIES = ("static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="lockit-bench-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        LOCKIT_STATE_DIR=f"{home}/lockit",
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True, capture_output=True
    )

    from lockit_provider.sandbox import Sandbox
    from tests.airflow.contention import race
    from tests.airflow.lifecycle_helpers import connection_json

    print(
        f"{'policy':<16}{'callers':>8}{'refreshes':>10}{'invalid_grant':>14}"
        f"{'errors':>8}{'tokens':>8}{'wall s':>8}"
    )
    for policy in POLICIES:
        with Sandbox(auto_approve=True, refresh_policy=policy) as sandbox:
            tokens = sandbox.issue_tokens()
            sandbox.expire_access_tokens()
            conn = connection_json(
                sandbox.url,
                tokens,
                expires_at=time.time() - 1,
                token_variable=f"lockit_bench_{uuid.uuid4().hex[:8]}",
            )
            started = time.monotonic()
            results = race({"AIRFLOW_CONN_LOCKIT_DEFAULT": conn}, args.processes, args.threads)
            wall = time.monotonic() - started
            stats = sandbox.stats()
        errors = sum(r.startswith("ERROR") for r in results)
        print(
            f"{policy:<16}{len(results):>8}{stats['token_requests'].get('refresh_token', 0):>10}"
            f"{stats['invalid_grant']:>14}{errors:>8}{len(set(results)):>8}{wall:>8.1f}"
        )


if __name__ == "__main__":
    main()
