"""Fixtures shared by the end-to-end modules: sandbox processes and one Airflow for the package.

Starting ``airflow standalone`` costs a minute or more on a busy machine, so every module whose set-up
it can hold uses one stack and adds its DAG files to it: deferral on for every operator,
``lockit_default`` on the default sandbox, ``lockit_lifecycle`` on a sandbox that rotates refresh
tokens, revokes on reuse and issues short-lived access tokens. Modules that need another set-up (a
connection in the metadata DB, say) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import lifecycle_trigger
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.stack import AirflowStack
from tests.support.connections import connection_json

REPO = Path(__file__).resolve().parents[2]
# The first test to use the shared stack also pays for starting it; under load that alone takes minutes.
E2E_TIMEOUT = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give end-to-end tests a generous timeout (only a hang meets it), and run the shared stack's last.

    The tests that start no shared stack run first, so that it never idles beside another Airflow,
    and it stops with the package, before the rest of the suite.
    """
    e2e = [index for index, item in enumerate(items) if "tests/e2e/" in item.nodeid]
    for index in e2e:
        if items[index].get_closest_marker("timeout") is None:
            items[index].add_marker(pytest.mark.timeout(E2E_TIMEOUT))
    if e2e and e2e == list(range(e2e[0], e2e[-1] + 1)):  # one contiguous run: reorder within it
        group = items[e2e[0] : e2e[-1] + 1]
        group.sort(key=lambda item: "airflow_stack" in getattr(item, "fixturenames", ()))
        items[e2e[0] : e2e[-1] + 1] = group


@pytest.fixture(scope="package")
def sandbox_process() -> Iterator[SandboxProcess]:
    """Run the sandbox as its own process (default flags) for the e2e package."""
    with SandboxProcess() as process:
        yield process


@pytest.fixture(scope="package")
def lifecycle_sandbox() -> Iterator[SandboxProcess]:
    """Run a sandbox that rotates refresh tokens, revokes a grant on reuse, and expires tokens fast."""
    flags = ("--refresh-policy", "rotate-revoke", "--expires-in", str(lifecycle_trigger.EXPIRES_IN))
    with SandboxProcess(*flags) as process:
        yield process


@pytest.fixture(scope="package")
def airflow_stack(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_process: SandboxProcess,
    lifecycle_sandbox: SandboxProcess,
) -> Iterator[AirflowStack]:
    """Run one ``airflow standalone`` with deferral on and both lockit connections from the environment."""
    home = tmp_path_factory.mktemp("e2e-airflow")
    lifecycle = connection_json(lifecycle_sandbox.url, lifecycle_sandbox.issue_tokens())
    env = {
        "AIRFLOW_CONN_LOCKIT_DEFAULT": connection_json(sandbox_process.url, sandbox_process.issue_tokens()),
        f"AIRFLOW_CONN_{lifecycle_trigger.CONN_ID.upper()}": lifecycle,
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "PYTHONPATH": str(REPO),  # DAG files of the tests import tests.e2e modules
    }
    with AirflowStack(home, home / "dags", env) as stack:
        yield stack
