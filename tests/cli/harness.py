"""Drive `airflow lockit` as real subprocesses against a sandbox, and play the browser."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import requests

from lockit_provider.sandbox import Sandbox
from tests.airflow_env import AIRFLOW_BIN, AIRFLOW_ENV
from tests.support.connections import CLIENT_ID, CLIENT_SECRET

# Time enough for an `airflow` command to start (it imports Airflow) on a busy machine; only a hang hits it.
CLI_TIMEOUT = 180
SECRET_VAR = "LOCKIT_TEST_CLIENT_SECRET"
CLI_ENV = {
    **os.environ,
    **AIRFLOW_ENV,
    SECRET_VAR: CLIENT_SECRET,
}


def connection_flags(sandbox: Sandbox) -> list[str]:
    """Return the authorize options that create a connection for ``sandbox``."""
    return [
        "--client-id",
        CLIENT_ID,
        "--client-secret-env",
        SECRET_VAR,
        "--api-url",
        sandbox.url,
        "--redirect-uri",
        sandbox.config.redirect_uri,
    ]


@dataclass
class Run:
    """A finished CLI run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def url(self) -> str:
        """Return the authorization URL: the stdout line that is only a URL."""
        return next(line for line in self.stdout.splitlines() if line.startswith("http"))


@dataclass
class Running:
    """A CLI run in progress whose stdout is read line by line until the authorization URL."""

    proc: subprocess.Popen[str]
    record: Callable[[str], object]
    seen: list[str] = field(default_factory=list)

    def read_url(self, timeout: float = CLI_TIMEOUT) -> str:
        """Return the authorization URL as soon as the CLI prints it."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not ready:
                assert self.proc.poll() is None, f"the CLI exited early: {self.finish(5)}"
                continue
            line = self.proc.stdout.readline()
            assert line, f"the CLI closed stdout early: {self.finish(5)}"
            self.seen.append(line)
            if line.startswith("http"):
                return line.strip()
        raise AssertionError("the CLI printed no authorization URL in time")

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout: float = CLI_TIMEOUT) -> Run:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        run = Run(self.proc.returncode, "".join(self.seen) + (stdout or ""), stderr or "")
        self.record(run.stdout + run.stderr)
        return run


class LockitCli:
    """Run `airflow lockit ...` in subprocesses; hand every output to ``record`` (a token leak scan)."""

    def __init__(self, record: Callable[[str], object]) -> None:
        self._record = record
        self._running: list[subprocess.Popen[str]] = []

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
        done = subprocess.run(
            [AIRFLOW_BIN, "lockit", *args],
            env={**CLI_ENV, **(env or {})},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        self._record(done.stdout + done.stderr)
        return Run(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, env: dict[str, str] | None = None, stdin: int = subprocess.PIPE) -> Running:
        proc = subprocess.Popen(
            [AIRFLOW_BIN, "lockit", *args],
            env={**CLI_ENV, **(env or {})},
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._running.append(proc)
        return Running(proc, self._record)

    def stop_all(self) -> None:
        for proc in self._running:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def browse(url: str) -> requests.Response:
    """Follow the authorization URL like a browser (auto-approving sandbox) to the CLI's callback."""
    return requests.get(url, timeout=30)


def decide_on_consent_page(sandbox: Sandbox, url: str, decision: str) -> requests.Response:
    """Open the consent page, press Approve or Deny, and follow the redirect to the callback."""
    page = requests.get(url, timeout=30)
    form = _HiddenInputs()
    form.feed(page.text)
    return requests.post(sandbox.authorize_url, data={**form.fields, "decision": decision}, timeout=30)


def redirect_location(url: str) -> str:
    """Return where the (auto-approving) sandbox sends the browser, without going there."""
    response = requests.get(url, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def bootstrap_extras(sandbox: Sandbox) -> dict[str, Any]:
    """Return connection extras holding tokens of a separate grant (as an earlier authorize left them)."""
    tokens = sandbox.issue_tokens()
    expires_at = int(time.time()) + int(tokens["expires_in"])
    return {key: tokens[key] for key in ("access_token", "refresh_token")} | {"expires_at": expires_at}
