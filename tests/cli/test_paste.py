"""Paste-mode parsing: a redirect is state-checked; a bare code only at an interactive prompt."""

from __future__ import annotations

import pytest

from lockit_provider.cli.errors import CliError
from lockit_provider.cli.paste import code_from_paste
from lockit_provider.exceptions import LockitError
from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig


@pytest.fixture
def client():
    config = OAuthClientConfig(
        client_id="id",
        client_secret="secret",
        authorize_url="https://lockit.example.com/oauth/authorize",
        token_url="https://lockit.example.com/oauth/access-token",
        redirect_uri="https://tools.example.com/callback",
    )
    return OAuthClient(config)


@pytest.mark.parametrize(
    "pasted",
    [
        "https://tools.example.com/callback?code=the-code&state=s1",
        "?code=the-code&state=s1",
        "code=the-code&state=s1",
    ],
)
def test_redirects_and_query_strings_give_the_code(client, pasted):
    assert code_from_paste(client, pasted, state="s1", interactive=False) == "the-code"


def test_a_redirect_with_another_state_is_refused(client):
    with pytest.raises(LockitError, match="state does not match"):
        code_from_paste(client, "code=the-code&state=other", state="s1", interactive=True)


def test_a_bare_code_needs_a_person(client, capsys):
    with pytest.raises(CliError, match="bare code cannot be checked"):
        code_from_paste(client, "the-code", state="s1", interactive=False)
    assert code_from_paste(client, "the-code", state="s1", interactive=True) == "the-code"
    assert "cannot be checked against this request's state" in capsys.readouterr().err
