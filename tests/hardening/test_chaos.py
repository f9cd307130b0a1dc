"""The kill test at a small count (``make chaos`` runs it at 100+ per policy, bench/chaos_refresh.py).

Kills are real SIGKILLs of real processes refreshing against the sandbox; the "next process" is a
fresh one. Where the outcome depends on where the kill falls, the kill is placed where the answer is
certain: inside the slow store write, long after the journal entry was written.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos_refresh.py"


@pytest.fixture(scope="module")
def chaos():
    spec = importlib.util.spec_from_file_location("chaos_refresh", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos_refresh"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("policy", ["rotate", "rotate-revoke"])
def test_a_kill_during_the_slow_store_write_locks_out_only_the_naive_client(chaos, policy):
    # The store write takes 2 s; the kill comes 0.5 s after the answer: the provider journaled the
    # new record within milliseconds of the answer, the naive client still holds it only in memory.
    outcomes = chaos.run_chaos(1, (policy,), store_delay=2.0, fixed=("after answer", 0.5))
    by_client = {o.client: o for o in outcomes}
    assert all(o.killed and o.rotated and o.answered for o in outcomes)
    assert by_client["provider"].lockout is None
    assert by_client["naive"].lockout == "InvalidGrantError"


def test_random_kills_are_classified_and_reported_side_by_side(chaos):
    outcomes = chaos.run_chaos(2, ("rotate",), seed=7)
    assert sorted(o.client for o in outcomes) == ["naive", "naive", "provider", "provider"]
    assert {o.mode for o in outcomes} <= {"anywhere", "after answer"}
    lines = chaos.table(outcomes).splitlines()
    assert lines[0].split()[:5] == ["policy", "client", "runs", "killed", "lockouts"]
    assert [line.split()[:3] for line in lines[2:]] == [["rotate", "provider", "2"], ["rotate", "naive", "2"]]
