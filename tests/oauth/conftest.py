"""Fixtures for the OAuth core tests (plain http to the sandbox on 127.0.0.1 needs no switch)."""
