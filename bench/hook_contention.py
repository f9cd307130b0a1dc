"""Refresh contention through LockitHook: PROCESSES x THREADS callers, one expired token, per policy.

Unlike bench/refresh_contention.py (the OAuth core on a file store), this goes through the Airflow
side: LockitHook, its connection from AIRFLOW_CONN_*, and the Variable token store in a private
SQLite metadata DB. The worker processes start once; in each round their callers wait at one gate
that opens when all are at it. Prints refresh requests, invalid_grant, errors, distinct tokens, the
spread of the callers' first requests and the round's wall time per policy.

Run: ``.venv/bin/python bench/hook_contention.py [--processes 8] [--threads 8]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
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
    from tests.support.connections import connection_json, new_conn_id
    from tests.support.contention import ContentionWorkers, race

    print(
        f"{'policy':<16}{'callers':>8}{'refreshes':>10}{'invalid_grant':>14}"
        f"{'errors':>8}{'tokens':>8}{'spread ms':>10}{'wall s':>8}"
    )
    with ContentionWorkers(args.processes) as workers:
        for policy in POLICIES:
            with Sandbox(auto_approve=True, refresh_policy=policy) as sandbox:
                tokens = sandbox.issue_tokens()
                sandbox.expire_access_tokens()
                conn = connection_json(sandbox.url, tokens, expires_at=time.time() - 1)
                started = time.monotonic()
                attempts = race([(workers, new_conn_id(), conn)], args.threads)
                wall = time.monotonic() - started
                stats = sandbox.stats()
            errors = sum(attempt.error is not None for attempt in attempts)
            spread = max(a.asked for a in attempts) - min(a.asked for a in attempts)
            print(
                f"{policy:<16}{len(attempts):>8}{stats['token_requests'].get('refresh_token', 0):>10}"
                f"{stats['invalid_grant']:>14}{errors:>8}{len({a.token for a in attempts}):>8}"
                f"{spread * 1000:>10.1f}{wall:>8.1f}"
            )


if __name__ == "__main__":
    main()
