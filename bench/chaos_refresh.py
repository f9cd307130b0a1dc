"""Kill test: SIGKILL a refreshing process at random points; count lockouts, provider vs naive client.

A lockout: the next process cannot get a working token without a person re-authorizing. For each
refresh policy (rotate, rotate-revoke) and each iteration, two processes refresh an expired token
of a fresh grant, side by side in the same run and with the same kill offset:

- provider: ``Refresher`` on a file store (journal first, then the store, then clear the journal);
- naive: the plain requests-oauthlib pattern, ``OAuth2Session.refresh_token`` then save.

Both save to a store that takes ``--store-delay`` seconds (an Airflow Variable write is a database
round trip), so the window between "the server rotated" and "the new token is durable" is the same
for both. Each process is started, signals READY, and is released with GO; it is then killed with
SIGKILL either at a random point of the whole refresh ("anywhere") or 0-20 ms after the sandbox sent
the token answer ("after answer"). A fresh verifier state (new objects, no memory of the killed
process) then tries to get a token that opens ``GET /projects``.

The sandbox runs in this process with TLS (both clients verify its CA; no plain-http switch), and is
instrumented to note the instant each refresh answer has left it. A kill before that instant, once
the server has rotated, loses the new refresh token whatever the client does: those are reported as
"during the answer" (unavoidable under strict rotation).

Run: ``.venv/bin/python bench/chaos_refresh.py [--iterations 100] [--store-delay 0.01]``
     ``[--provider-path DIR]`` (run the children and verifier against another checkout's package)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

POLICIES = ("rotate", "rotate-revoke")
CLIENTS = ("provider", "naive")
MODES = ("anywhere", "after answer")
CLIENT_ID, CLIENT_SECRET = "lockit-client", "lockit-secret"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
KEY = "chaos"
TOKEN_PATH = "/oauth/access-token"
AFTER_ANSWER_WINDOW = 0.020
LAST_RUN: dict[str, str] = {}  # what the last run used, for the report
STEP_TIMEOUT = 60.0  # seconds for any one child step; a hang is a failure, never a stuck bench


# --- the processes under test ------------------------------------------------------------------


class SlowFileStore:
    """A FileStore whose writes take ``delay`` seconds, like a metadata-database round trip."""

    def __init__(self, path: Path, delay: float) -> None:
        from lockit_provider.oauth.store import FileStore

        self._inner = FileStore(path)
        self.name = self._inner.name
        self._delay = delay

    def load(self) -> Any:
        return self._inner.load()

    def save(self, record: Any) -> None:
        time.sleep(self._delay)
        self._inner.save(record)


def provider_refresher(work: Path, spec: dict[str, Any], *, verifying: bool = False) -> Any:
    """Return the provider's Refresher on the iteration's store, journal and lock directory."""
    from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
    from lockit_provider.oauth.journal import RescueJournal
    from lockit_provider.oauth.refresher import Refresher

    config = OAuthClientConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=spec["url"] + "/oauth/authorize",
        token_url=spec["url"] + TOKEN_PATH,
        redirect_uri=REDIRECT_URI,
        timeout=20.0,
        verify=spec["ca"],
    )
    return Refresher(
        OAuthClient(config),
        SlowFileStore(work / "store.json", 0.0 if verifying else spec["store_delay"]),
        key=KEY,
        bootstrap=None,
        lock_dir=work / "locks",
        journal=RescueJournal(work / "journal", CLIENT_SECRET),
        reauth_command="re-authorize",
        invalid_grant_wait=0,
        persist_retries=0,
    )


def run_child(client: str, work: Path, spec: dict[str, Any]) -> None:
    """Refresh once when told GO (the process the parent kills)."""
    if client == "provider":
        refresher = provider_refresher(work, spec)
        refresh = refresher.get_record
    else:
        from requests_oauthlib import OAuth2Session

        token = json.loads((work / "naive.json").read_text())
        session = OAuth2Session(CLIENT_ID, token=token)

        def refresh() -> None:
            new = session.refresh_token(
                spec["url"] + TOKEN_PATH,
                refresh_token=token["refresh_token"],
                auth=(CLIENT_ID, CLIENT_SECRET),
                verify=spec["ca"],
                timeout=20,
            )
            time.sleep(spec["store_delay"])  # the same slow store as the provider's
            (work / "naive.json").write_text(json.dumps(new))

    import lockit_provider

    print(f"READY {lockit_provider.__file__}", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return
    refresh()
    print("DONE", flush=True)


def verify(client: str, work: Path, spec: dict[str, Any]) -> str | None:
    """Return None when a fresh process gets a working token, else why it cannot (a lockout)."""
    import requests

    try:
        if client == "provider":
            access = provider_refresher(work, spec, verifying=True).get_record().access_token
        else:
            from requests_oauthlib import OAuth2Session

            token = json.loads((work / "naive.json").read_text())
            if token.get("expires_at", 0) < time.time() + 60:
                token = OAuth2Session(CLIENT_ID, token=token).refresh_token(
                    spec["url"] + TOKEN_PATH,
                    refresh_token=token["refresh_token"],
                    auth=(CLIENT_ID, CLIENT_SECRET),
                    verify=spec["ca"],
                    timeout=20,
                )
            access = token["access_token"]
        status = requests.get(
            spec["url"] + "/projects",
            headers={"Authorization": f"Bearer {access}"},
            verify=spec["ca"],
            timeout=20,
        ).status_code
        return None if status == 200 else f"API answered {status}"
    except Exception as error:  # any failure to get a token is what we count
        return type(error).__name__


def run_verifier() -> None:
    """Answer verification requests (JSON lines) with fresh objects each time."""
    for line in sys.stdin:
        request = json.loads(line)
        reason = verify(request["client"], Path(request["work"]), request["spec"])
        print(json.dumps({"reason": reason}), flush=True)


# --- the parent: sandbox, kills, bookkeeping ---------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """One killed (or not) refresh and what the next process could do after it."""

    policy: str
    client: str
    mode: str
    offset: float  # seconds after GO ("anywhere") or after the answer left the sandbox
    killed: bool
    answered: bool  # the sandbox had sent the refresh answer before the kill
    rotated: bool  # the sandbox had acted on the refresh (the old refresh token was spent)
    lockout: str | None  # why the next process could not get a token, or None

    @property
    def unavoidable(self) -> bool:
        """Say whether the kill fell after the server rotated but before its answer had left it."""
        return self.killed and self.rotated and not self.answered


class AnswerWatch:
    """Note when the in-process sandbox has sent a refresh answer; run an action at that moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent_at: float | None = None
        self.on_answer: Any = None

    def install(self) -> None:
        """Wrap the sandbox handler's send (bench-only instrumentation of our own sandbox)."""
        from lockit_provider.sandbox import server

        original = server._Handler._send
        watch = self

        def send(handler: Any, response: Any) -> None:
            original(handler, response)
            if handler.path.startswith(TOKEN_PATH):
                handler.wfile.flush()  # the answer is on the wire now, not in the handler's buffer
                with watch.lock:
                    watch.sent_at = time.monotonic()
                    action, watch.on_answer = watch.on_answer, None
                if action is not None:
                    action()

        server._Handler._send = send  # type: ignore[method-assign]

    def reset(self, on_answer: Any = None) -> None:
        with self.lock:
            self.sent_at, self.on_answer = None, on_answer


class Child:
    """A refreshing process, started and ready before the clock starts."""

    def __init__(
        self, script: Path, client: str, work: Path, spec: dict[str, Any], env: dict[str, str]
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), "child", client, str(work), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        ready = _readline(self.process, STEP_TIMEOUT)
        if not ready.startswith("READY"):
            self.process.kill()
            raise RuntimeError(f"the {client} child did not start: {ready!r}")
        self.package = ready.partition(" ")[2].strip()

    def go(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("GO\n")
        self.process.stdin.flush()
        return time.monotonic()

    def kill(self) -> float | None:
        """SIGKILL the child if it still runs; return when."""
        if self.process.poll() is not None:
            return None
        now = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        return now

    def finish(self) -> bool:
        """Wait for the child; return whether it finished its refresh (not killed, no error)."""
        try:
            self.process.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        return self.process.returncode == 0


def _readline(process: subprocess.Popen[str], timeout: float) -> str:
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        assert process.stdout is not None
        return process.stdout.readline()
    finally:
        killer.cancel()


class Verifier:
    """One long-lived process that checks, with fresh objects each time, whether a token can be had."""

    def __init__(self, script: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), "verifier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def check(self, client: str, work: Path, spec: dict[str, Any]) -> str | None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"client": client, "work": str(work), "spec": spec}) + "\n")
        self.process.stdin.flush()
        line = _readline(self.process, STEP_TIMEOUT)
        if not line:
            raise RuntimeError("the verifier died")
        return json.loads(line)["reason"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=STEP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()


def seed_store(client: str, work: Path, tokens: dict[str, Any]) -> None:
    """Write the grant's tokens, already expired, where the client under test keeps them."""
    from lockit_provider.oauth.store import FileStore
    from lockit_provider.oauth.token import TokenRecord

    now = time.time()
    if client == "provider":
        record = TokenRecord.from_token_response(tokens, previous=None, now=now - 7200, obtained_by="seed/0")
        FileStore(work / "store.json").save(dataclasses.replace(record, expires_at=now - 1))
    else:
        (work / "naive.json").write_text(json.dumps({**tokens, "expires_in": -1, "expires_at": now - 1}))


@contextlib.contextmanager
def chaos_sandbox(policy: str) -> Iterator[Any]:
    from lockit_provider.sandbox import Sandbox

    sandbox = Sandbox(refresh_policy=policy, tls=True, auto_approve=True).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


class Chaos:
    """Run kill iterations for one policy against one in-process sandbox."""

    def __init__(
        self, sandbox: Any, watch: AnswerWatch, root: Path, env: dict[str, str], store_delay: float
    ) -> None:
        self.sandbox = sandbox
        self.watch = watch
        self.root = root
        self.env = env
        self.script = Path(__file__).resolve()
        self.spec = {"url": sandbox.url, "ca": sandbox.ca_cert_path, "store_delay": store_delay}
        self.verifier = Verifier(self.script, env)
        self.count = 0
        self.package = ""

    def close(self) -> None:
        self.verifier.close()

    def _refreshes(self) -> int:
        return int(self.sandbox.stats()["token_requests"].get("refresh_token", 0))

    def once(self, policy: str, client: str, mode: str | None, offset: float) -> tuple[Outcome, float]:
        """Refresh in a child, kill it per ``mode`` (None: no kill), verify; return outcome and duration."""
        self.count += 1
        work = self.root / f"{self.count:05d}-{client}"
        work.mkdir()
        seed_store(client, work, self.sandbox.issue_tokens())
        child = Child(self.script, client, work, self.spec, self.env)
        self.package = child.package
        before = self._refreshes()
        kill_at: list[float | None] = []
        timer: threading.Timer | None = None
        if mode == "after answer":
            self.watch.reset(lambda: threading.Timer(offset, lambda: kill_at.append(child.kill())).start())
        else:
            self.watch.reset()
        started = child.go()
        if mode == "anywhere":
            timer = threading.Timer(offset, lambda: kill_at.append(child.kill()))
            timer.start()
        completed = child.finish()
        duration = time.monotonic() - started
        if timer is not None:
            timer.join()
        if mode == "after answer":
            deadline = time.monotonic() + 1.0
            while not kill_at and self.watch.sent_at is not None and time.monotonic() < deadline:
                time.sleep(0.005)  # the kill timer may still be due after a child that finished
        sent_at = self.watch.sent_at
        self.watch.reset()
        killed_at = next((k for k in kill_at if k is not None), None)
        killed = killed_at is not None and not completed
        outcome = Outcome(
            policy=policy,
            client=client,
            mode=mode or "none",
            offset=offset,
            killed=killed,
            answered=sent_at is not None and (killed_at is None or sent_at <= killed_at),
            rotated=self._refreshes() > before,
            lockout=self.verifier.check(client, work, self.spec),
        )
        return outcome, duration


def run_chaos(
    iterations: int,
    policies: tuple[str, ...] = POLICIES,
    store_delay: float = 0.01,
    provider_path: str | None = None,
    seed: int | None = None,
    fixed: tuple[str, float] | None = None,
) -> list[Outcome]:
    """Run the kill test; ``fixed=(mode, offset)`` replaces the random choice (for tests)."""
    rng = random.Random(seed)
    env = {**os.environ}
    if provider_path:
        env["PYTHONPATH"] = provider_path + os.pathsep + env.get("PYTHONPATH", "")
    watch = AnswerWatch()
    watch.install()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="lockit-chaos-") as tmp:
        for policy in policies:
            with chaos_sandbox(policy) as sandbox:
                chaos = Chaos(sandbox, watch, Path(tmp) / policy.replace(":", "_"), env, store_delay)
                chaos.root.mkdir()
                try:
                    # Calibrate "anywhere": the span of an unkilled refresh, the same for both clients.
                    span = 0.0
                    for client in CLIENTS:
                        outcome, duration = chaos.once(policy, client, None, 0.0)
                        if outcome.lockout:
                            raise RuntimeError(f"{client} fails without any kill: {outcome.lockout}")
                        span = max(span, duration)
                    for _ in range(iterations):
                        mode, offset = fixed or _draw(rng, span)
                        for client in CLIENTS:  # paired: same mode and offset for both
                            outcomes.append(chaos.once(policy, client, mode, offset)[0])
                finally:
                    chaos.close()
                    LAST_RUN["package"] = chaos.package
    return outcomes


def _draw(rng: random.Random, span: float) -> tuple[str, float]:
    mode = rng.choice(MODES)
    return mode, rng.uniform(0, AFTER_ANSWER_WINDOW if mode == "after answer" else span * 1.2)


def table(outcomes: list[Outcome]) -> str:
    """Return lockouts per policy and client, side by side, split by where the kill fell."""
    header = (
        f"{'policy':<14}{'client':<10}{'runs':>6}{'killed':>8}{'lockouts':>10}"
        f"{'  of which: after answer (0-20 ms)':>36}{'  anywhere':>11}{'  during the answer':>20}"
    )
    lines = [header, "-" * len(header)]
    for policy in dict.fromkeys(o.policy for o in outcomes):
        for client in CLIENTS:
            mine = [o for o in outcomes if o.policy == policy and o.client == client]
            locked = [o for o in mine if o.lockout]
            after = [o for o in locked if o.mode == "after answer"]
            anywhere = [o for o in locked if o.mode == "anywhere"]
            runs_after = sum(o.mode == "after answer" for o in mine)
            runs_any = sum(o.mode == "anywhere" for o in mine)
            lines.append(
                f"{policy:<14}{client:<10}{len(mine):>6}{sum(o.killed for o in mine):>8}{len(locked):>10}"
                f"{f'{len(after)} of {runs_after}':>36}{f'{len(anywhere)} of {runs_any}':>11}"
                f"{sum(o.unavoidable for o in locked):>20}"
            )
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        run_child(sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "verifier":
        run_verifier()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100, help="kills per policy and client")
    parser.add_argument("--policy", action="append", choices=POLICIES, help="run only these (repeatable)")
    parser.add_argument("--store-delay", type=float, default=0.01, help="seconds each store write takes")
    parser.add_argument("--provider-path", help="run the children against the package in this directory")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    started = time.monotonic()
    outcomes = run_chaos(
        args.iterations, tuple(args.policy or POLICIES), args.store_delay, args.provider_path, args.seed
    )
    print(f"provider package: {LAST_RUN.get('package')}")
    print(f"{args.iterations} iterations per policy, store writes take {args.store_delay * 1000:g} ms")
    print(table(outcomes))
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
