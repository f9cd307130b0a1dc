"""The demo stops what it started, all of it (grandchildren too), and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from lockit_provider.demo.process_group import ProcessGroup, live_members

# Ignores SIGTERM (as a component slow to shut down), starts a grandchild, says so, then waits.
STUBBORN = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"grandchild {child.pid}", flush=True)
    time.sleep(600)
    """
)


def test_stop_ends_every_process_of_the_group_and_only_those(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    group = ProcessGroup()
    try:
        group.start("stubborn", [sys.executable, "-c", STUBBORN], os.environ, tmp_path / "stubborn.log")
        group.start(
            "polite", [sys.executable, "-c", "import time; time.sleep(600)"], os.environ, tmp_path / "p.log"
        )
        assert group.pgid is not None and group.pgid != os.getpgrp()
        pgid = group.pgid
        log = tmp_path / "stubborn.log"
        while "grandchild" not in log.read_text():  # an event: the grandchild exists
            assert group.exited() is None
            time.sleep(0.05)
        grandchild = int(log.read_text().split()[1])
        assert set(live_members(pgid)) >= {grandchild, *(p.pid for p in group.procs.values())}

        assert group.stop(grace=0.5) is True

        assert live_members(pgid) == []
        assert bystander.poll() is None  # a process of the caller's own group is untouched
    finally:
        bystander.kill()
        bystander.wait()
