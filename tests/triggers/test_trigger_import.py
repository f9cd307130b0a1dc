"""The triggerer imports a trigger's module on its event loop: ours stays light, the hook loads apart."""

from __future__ import annotations

import subprocess
import sys

# A triggerer has Airflow, httpx and anyio loaded before it imports a trigger class.
TRIGGERER_LOADED = "import airflow.triggers.base, httpx, anyio._backends._asyncio"


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", f"{TRIGGERER_LOADED}\n{code}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_the_trigger_module_does_not_import_the_hook_module():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import lockit_provider.triggers.lockit\n"
        "heavy = {'lockit_provider.hooks.lockit', 'requests', 'oauthlib', 'requests_oauthlib', 'filelock'}\n"
        "print(sorted(heavy & (set(sys.modules) - before)))"
    )
    assert run_python(code) == "[]"


def test_the_first_trigger_imports_the_hook_module_on_a_worker_thread():
    # Record the threads that import the hook module; 20 triggers build their hooks at once: one
    # import, not on the loop's (main) thread.
    code = """
import asyncio, importlib, sys, threading
from lockit_provider.triggers.lockit import HOOK_MODULE, new_async_hook

threads = []
real_import = importlib.import_module

def noting(name, *args, **kwargs):
    if name == HOOK_MODULE:
        threads.append(threading.current_thread() is threading.main_thread())
    return real_import(name, *args, **kwargs)

async def main():
    importlib.import_module = noting
    hooks = await asyncio.gather(*(new_async_hook("lockit_default") for _ in range(20)))
    print(len({type(hook) for hook in hooks}), sorted(threads), HOOK_MODULE in sys.modules)

asyncio.run(main())
"""
    assert run_python(code) == "1 [False] True"
