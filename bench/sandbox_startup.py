"""Measure how fast the sandbox is ready: the CLI (spawn to URL line) and ``Sandbox().start()`` in-process.

Run: ``.venv/bin/python bench/sandbox_startup.py [--runs 15] [--tls]``
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

from lockit_provider.sandbox import Sandbox


def _summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"{label:<28} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   min {ms[0]:7.1f} ms"


def cli_ready_time(extra: list[str]) -> float:
    """Spawn the CLI, return seconds until its URL line, check it serves, then stop it with SIGTERM."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockit_provider.sandbox", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("LOCKIT_SANDBOX_URL="):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox exited with {proc.wait()} before printing its URL")
        elapsed = time.perf_counter() - start
        if "--tls" not in extra:
            stats_url = line.strip().split("=", 1)[1] + "/_sandbox/stats"
            with urllib.request.urlopen(stats_url, timeout=5) as answer:
                assert answer.status == 200
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=10) != 0:
            raise RuntimeError(f"the sandbox exited with {proc.returncode} on SIGTERM")
        return elapsed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def in_process_start_time(tls: bool) -> float:
    """Return seconds for ``Sandbox(...).start()`` (oauthlib already imported)."""
    start = time.perf_counter()
    sandbox = Sandbox(tls=tls).start()
    elapsed = time.perf_counter() - start
    sandbox.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tls", action="store_true", help="measure with --tls (certificate generation)")
    args = parser.parse_args()
    extra = ["--tls"] if args.tls else []
    cli_ready_time(extra)  # warm the file cache and .pyc files; not counted
    cli = [cli_ready_time(extra) for _ in range(args.runs)]
    in_process_start_time(args.tls)
    inproc = [in_process_start_time(args.tls) for _ in range(args.runs)]
    mode = " (tls)" if args.tls else ""
    print(f"sandbox start-up, {args.runs} runs each, Python {sys.version.split()[0]}")
    print(_summary(f"CLI spawn -> URL line{mode}", cli))
    print(_summary(f"Sandbox().start(){mode}", inproc))


if __name__ == "__main__":
    main()
