"""Helpers for the hook tests that only they use; shared helpers are in ``tests/support``."""

from __future__ import annotations
