"""A worker process for contention tests: THREADS threads, each with its own LockitHook, ask for a
token at a common start time and print the SHA-256 of what they got (never the token itself).

Usage: python -m tests.airflow.token_worker START_AT THREADS
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time

from lockit_provider.hooks.lockit import LockitHook


def main() -> None:
    start_at, threads = float(sys.argv[1]), int(sys.argv[2])
    hooks = [LockitHook(lockit_conn_id="lockit_default") for _ in range(threads)]
    for hook in hooks:
        hook.settings  # noqa: B018 - read the connection before the race starts
    results: list[str] = []

    def call(hook: LockitHook) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        try:
            token = hook.get_access_token()
            results.append(hashlib.sha256(token.encode()).hexdigest())
        except Exception as err:
            results.append(f"ERROR {type(err).__name__}: {err}")

    workers = [threading.Thread(target=call, args=(hook,)) for hook in hooks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    print("RESULTS " + " ".join(results).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
