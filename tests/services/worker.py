"""One worker process of the cross-host test: waits for a common start time, then asks for a token."""

from __future__ import annotations

import hashlib
import sys
import time

from lockit_provider.hooks.lockit import LockitHook


def main() -> None:
    start_at = float(sys.argv[1])
    hook = LockitHook(lockit_conn_id="lockit_default")
    hook.settings  # noqa: B018 - read the connection before the race starts
    time.sleep(max(0.0, start_at - time.time()))
    token = hook.get_access_token()
    print(hashlib.sha256(token.encode()).hexdigest(), flush=True)


if __name__ == "__main__":
    main()
