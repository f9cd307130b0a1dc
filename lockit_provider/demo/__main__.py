"""Run the provider's main job under a real Airflow: ``python -m lockit_provider.demo [--ui]``.

Starts the LockitNetwork sandbox and Airflow (API server, scheduler, DAG processor, triggerer) on
SQLite, authorizes ``lockit_default`` with ``airflow lockit authorize`` (the demo plays the browser),
and runs the shipped ``lockit_dailies`` example DAG: its sensor defers, the script supervisor's iPad
syncs the missing takes, the trigger fires, the clips are matched and the editor's CSV and ALE are
written. Then it stops everything it started; with ``--ui`` it leaves Airflow and the sandbox running
until Ctrl-C. Everything lives in ``.demo/`` (or ``$LOCKIT_DEMO_HOME``), a fresh Airflow home each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import lockit_provider.example_dags
from lockit_provider.demo.airflow_components import AirflowComponents, free_port
from lockit_provider.demo.browser import authorize
from lockit_provider.demo.dailies import run_dailies, show_files

CONN_ID = "lockit_default"  # the example DAGs' connection
CLIENT_ID = "lockit-client"


def main(argv: list[str] | None = None) -> int:
    """Run the demo and return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m lockit_provider.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--ui", action="store_true", help="keep Airflow and the sandbox running until Ctrl-C")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("LOCKIT_DEMO_HOME", ".demo")).resolve()
    airflow_home, dags, dailies_dir = home / "airflow", home / "airflow" / "dags", home / "dailies"
    for fresh in (airflow_home, home / "lockit"):  # a fresh deployment: every run tells the same story
        shutil.rmtree(fresh, ignore_errors=True)
    dags.mkdir(parents=True)
    # As a user does: copy the example DAG that ships in the package into the dags folder.
    shutil.copy(Path(lockit_provider.example_dags.__file__).with_name("lockit_dailies.py"), dags)
    env = {"LOCKIT_STATE_DIR": str(home / "lockit"), "LOCKIT_DAILIES_DIR": str(dailies_dir)}
    airflow = AirflowComponents(airflow_home, dags, env)

    from lockit_provider.sandbox import Sandbox

    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    sandbox = Sandbox(auto_approve=True, refresh_policy="rotate-revoke", redirect_uri=redirect_uri).start()
    # Ctrl-C and SIGTERM stop everything (SIGINT explicitly: a shell may start the demo with it ignored).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    interrupted = False
    try:
        say(f"LockitNetwork sandbox at {sandbox.url} (refresh tokens rotate; reuse revokes the grant)")
        cache = home / "cache" / f"airflow-{_airflow_version()}"
        copied = airflow.migrate(cache)
        how = f"a copy of the migrated database in {cache}" if copied else "airflow db migrate"
        say(f"a fresh SQLite deployment in {airflow_home} ({how})")
        airflow.start()
        say(f"Airflow starting: {', '.join(('api-server', 'scheduler', 'dag-processor', 'triggerer'))}")
        line = authorize(
            airflow.env, CONN_ID, sandbox.url, redirect_uri, CLIENT_ID, sandbox.config.client_secret
        )
        say(f"airflow lockit authorize (the demo played the browser): {line}")
        airflow.wait_until_healthy()
        password = airflow.login()
        say(f"Airflow UI: {airflow.url}  login: admin / {password}")
        result = run_dailies(airflow, sandbox, say)
        show_files(result["files"], say)
        stats = sandbox.stats()
        say(f"sandbox saw API answers {stats['api_requests']}, token requests {stats['token_requests']}")
        if args.ui:
            say(
                f"Airflow ({airflow.url}, admin / {password}) and the sandbox keep running: Ctrl-C stops them"
            )
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print()
        interrupted = not args.ui
    finally:
        say("stopping Airflow (its process group) and the sandbox")
        stopped = airflow.stop()
        sandbox.stop()
        say("every process the demo started has stopped" if stopped else "some Airflow processes remain")
    say(f"demo {'interrupted' if interrupted else 'finished'} after {time.monotonic() - _STARTED:.0f} s")
    return 130 if interrupted else 0


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_STARTED = time.monotonic()


def say(text: str) -> None:
    """Print one line of progress, with the seconds since the demo started."""
    print(f"== {time.monotonic() - _STARTED:5.1f} s  {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
