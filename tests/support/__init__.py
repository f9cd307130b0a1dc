"""Test support: the one home of helpers shared by test modules, worker processes and benchmarks.

Fixtures built on these live in ``tests/conftest.py``; plain functions live here because worker
processes and ``bench/`` scripts, which have no fixtures, use them too.
"""
