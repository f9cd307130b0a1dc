"""8 processes x 8 threads find the token expired at once: exactly one refresh, one shared token.

Runs bench/refresh_contention.py's measurement for every refresh policy, each against the sandbox
CLI in its own process (real HTTP on 127.0.0.1, spawn-started callers, a shared lock directory).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
POLICIES = ["static", "static-omit", "rotate", "rotate-grace:5", "rotate-revoke"]


@pytest.fixture
def contention(monkeypatch):
    # On sys.path (not loaded from a file path) so the spawned callers can import it too.
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("refresh_contention")


@pytest.mark.timeout(150)
@pytest.mark.parametrize("policy", POLICIES)
def test_one_refresh_for_64_simultaneous_callers(contention, tmp_path, policy):
    result = contention.run_policy(policy, tmp_path, processes=8, threads=8)
    assert result.errors == []
    assert result.callers == 64
    assert result.refresh_requests == 1
    assert result.invalid_grant == 0
    assert result.distinct_tokens == 1
    assert result.api_status == 200
    assert result.ok
