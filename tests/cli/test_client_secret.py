"""Where `authorize` takes a new client secret from: option, environment variable, no-echo prompt."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from lockit_provider.cli import authorization
from lockit_provider.cli.connections import LocatedConnection
from lockit_provider.cli.errors import CliError


def _args(**given):
    options = {"conn_id": "lockit_x", "client_secret": None, "client_secret_env": None}
    return argparse.Namespace(**{**options, **given})


def _located(password, source="metadata DB"):
    return LocatedConnection(SimpleNamespace(password=password), source)


@pytest.fixture
def prompt(monkeypatch):
    asked = []
    monkeypatch.setattr(authorization, "getpass", lambda text: asked.append(text) or "typed")
    monkeypatch.setattr(authorization, "stdin_is_interactive", lambda: True)
    return asked


def test_the_option_wins_over_the_environment_variable(monkeypatch, prompt):
    monkeypatch.setenv("SECRET_VAR", "from-env")
    both = _args(client_secret="given", client_secret_env="SECRET_VAR")
    assert authorization._new_secret(both, None) == "given"
    assert authorization._new_secret(_args(client_secret_env="SECRET_VAR"), None) == "from-env"
    assert prompt == []


def test_an_empty_environment_variable_is_an_error(monkeypatch):
    monkeypatch.delenv("SECRET_VAR", raising=False)
    with pytest.raises(CliError, match="SECRET_VAR is empty"):
        authorization._new_secret(_args(client_secret_env="SECRET_VAR"), None)


def test_the_prompt_asks_only_for_a_missing_secret_of_a_writable_connection(prompt):
    assert authorization._new_secret(_args(), None) == "typed"
    assert authorization._new_secret(_args(), _located("")) == "typed"
    assert authorization._new_secret(_args(), _located("stored")) is None
    assert authorization._new_secret(_args(), _located("", "environment variable AIRFLOW_CONN_X")) is None
    assert prompt == ["Client secret for connection 'lockit_x' (not echoed): "] * 2


def test_no_prompt_without_a_terminal(monkeypatch, prompt):
    monkeypatch.setattr(authorization, "stdin_is_interactive", lambda: False)
    assert authorization._new_secret(_args(), None) is None
    assert prompt == []
