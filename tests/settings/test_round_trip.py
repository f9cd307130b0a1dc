"""Good connections parse to the values they say, and defaults come from the one extras table."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from lockit_provider import DEFAULT_API_URL, get_provider_info
from lockit_provider.connection_extras import BY_NAME, DEFAULT_REDIRECT_URI, EXTRAS
from lockit_provider.http.retry import RetryPolicy
from lockit_provider.settings import settings_from_connection, token_variable_name
from tests.settings.conftest import CLIENT_SECRET
from tests.support.connections import new_conn_id

ACCESS = "access-5d0e2b7c9a14f3"
REFRESH = "refresh-8e6a1c3b0f92d4"


def form_fields() -> dict:
    (lockit,) = get_provider_info()["connection-types"]
    return lockit["conn-fields"]


def test_empty_extras_give_the_table_defaults(connection) -> None:
    conn = connection(None)
    settings = settings_from_connection(conn)
    assert settings.api_url == "https://api.example.com"
    assert settings.redirect_uri == DEFAULT_REDIRECT_URI == BY_NAME["redirect_uri"].default
    assert settings.authorize_url == "https://api.example.com/oauth/authorize"
    assert settings.token_url == "https://api.example.com/oauth/access-token"
    assert settings.use_pkce is BY_NAME["use_pkce"].default is True
    assert settings.client_auth == BY_NAME["client_auth"].default == "form"
    assert settings.timeout == BY_NAME["timeout"].default
    assert settings.timeouts == (BY_NAME["connect_timeout"].default, BY_NAME["timeout"].default)
    assert settings.retry == RetryPolicy(
        max_retries=BY_NAME["max_retries"].default, deadline=BY_NAME["retry_deadline"].default
    )
    assert settings.refresh_leeway == BY_NAME["refresh_leeway"].default
    assert settings.lock_timeout == BY_NAME["lock_timeout"].default
    assert settings.cross_host_lock == "auto"
    assert settings.lock_conn_id is None and settings.lock_url is None
    assert settings.token_variable == f"lockit_token__{conn.conn_id}"
    assert settings.bootstrap.access_token is None and settings.bootstrap.expires_at is None


def test_retry_policy_defaults_agree_with_the_table() -> None:
    # Code that builds RetryPolicy() itself must retry as an unconfigured connection does.
    assert RetryPolicy().max_retries == BY_NAME["max_retries"].default
    assert RetryPolicy().deadline == BY_NAME["retry_deadline"].default


def test_a_form_saved_with_its_defaults_parses_like_empty_extras(connection, caplog) -> None:
    # The UI saves every field: defaults where it shows one, null elsewhere.
    saved = {name: field["schema"].get("default") for name, field in form_fields().items()}
    conn_id = new_conn_id()
    with caplog.at_level(logging.WARNING, logger="lockit_provider"):
        from_form = settings_from_connection(connection(saved, conn_id=conn_id))
    assert from_form == settings_from_connection(connection({}, conn_id=conn_id))
    assert "unknown extra" not in caplog.text


def test_every_extra_round_trips(connection) -> None:
    extras = {
        "redirect_uri": "https://airflow.example.com/lockit/callback",
        "authorize_url": "https://id.example.com/authorize?tenant=a",
        "token_url": "https://id.example.com/token",
        "use_pkce": "no",
        "timeout": "45",
        "connect_timeout": 2.5,
        "read_timeout": 60,
        "max_retries": 0,
        "retry_deadline": 30,
        "ca_bundle": __file__,
        "client_auth": "RAW",
        "token_variable": "my_tokens",
        "refresh_leeway": 600,
        "state_dir": "/var/lib/lockit",
        "lock_conn_id": "redis_default",
        "cross_host_lock": "off",
        "lock_timeout": 15,
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "expires_at": 1_800_000_000.5,
    }
    assert set(extras) | {"lock_url"} == set(BY_NAME)
    settings = settings_from_connection(connection(extras, host="https://api.example.com:8443/"))
    assert settings.api_url == "https://api.example.com:8443"
    assert settings.redirect_uri == extras["redirect_uri"]
    assert settings.authorize_url == extras["authorize_url"]
    assert settings.token_url == extras["token_url"]
    assert settings.use_pkce is False
    assert settings.timeout == 45.0
    assert settings.timeouts == (2.5, 60.0)
    assert settings.retry == RetryPolicy(max_retries=0, deadline=30.0)
    assert settings.verify == __file__
    assert settings.client_auth == "raw"
    assert settings.token_variable == "my_tokens"
    assert settings.refresh_leeway == 600.0
    assert settings.state_dir == Path("/var/lib/lockit")
    assert settings.lock_dir == Path("/var/lib/lockit/locks")
    assert (settings.lock_conn_id, settings.cross_host_lock, settings.lock_timeout) == (
        "redis_default",
        "off",
        15,
    )
    assert settings.bootstrap.access_token == ACCESS
    assert settings.bootstrap.refresh_token == REFRESH
    assert settings.bootstrap.expires_at == 1_800_000_000.5


@pytest.mark.parametrize(
    "url", ["redis://redis:6379/0", "rediss://lockit@redis.example.com:6380", "unix:///run/redis.sock"]
)
def test_lock_url_without_a_password_is_kept(connection, url: str) -> None:
    assert settings_from_connection(connection({"lock_url": url})).lock_url == url


@pytest.mark.parametrize(
    ("host", "api_url"),
    [
        (None, DEFAULT_API_URL),
        ("  ", DEFAULT_API_URL),
        ("https://api.example.com/", "https://api.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_api_base_url(connection, host, api_url) -> None:
    assert settings_from_connection(connection({}, host=host)).api_url == api_url


@pytest.mark.parametrize("expires_at", [0, 1_700_000_000, "1700000000"])
def test_expires_at_in_epoch_seconds(connection, expires_at) -> None:
    assert settings_from_connection(connection({"expires_at": expires_at})).bootstrap.expires_at == float(
        expires_at
    )


def test_no_secret_in_reprs(connection) -> None:
    settings = settings_from_connection(connection({"access_token": ACCESS, "refresh_token": REFRESH}))
    for text in (repr(settings), str(settings), repr(settings.bootstrap)):
        for secret in (CLIENT_SECRET, ACCESS, REFRESH):
            assert secret not in text


def test_settings_accept_a_retry_policy_override(connection) -> None:
    # The hooks apply their retry_policy argument this way.
    settings = settings_from_connection(connection({}))
    quick = RetryPolicy(max_retries=1, backoff=0.01)
    assert dataclasses.replace(settings, retry=quick).retry is quick


def test_unknown_extras_warn_once_naming_the_closest_known_extra(connection, caplog) -> None:
    conn_id = new_conn_id()
    extras = {"timout": 5, "use_pcke": False, "zzz_unrelated": 1}
    with caplog.at_level(logging.WARNING, logger="lockit_provider"):
        for _ in range(3):
            settings = settings_from_connection(connection(extras, conn_id=conn_id))
    assert settings.timeout == BY_NAME["timeout"].default  # ignored, not guessed
    warnings = [r.getMessage() for r in caplog.records if "unknown extra" in r.getMessage()]
    assert len(warnings) == 3, warnings
    assert any('"timout"' in w and "did you mean 'timeout'?" in w for w in warnings)
    assert any('"use_pcke"' in w and "did you mean 'use_pkce'?" in w for w in warnings)
    assert any('"zzz_unrelated"' in w and "docs/connection.md" in w for w in warnings)
    assert all(r.levelno == logging.WARNING for r in caplog.records if "unknown extra" in r.getMessage())


def test_token_variable_names_are_injective() -> None:
    ids = ["x:prod", "x/prod", "x_prod", "x prod", "x?prod", "x_prod_", "lockit_default", "a.b-c"]
    names = [token_variable_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    # Ids of safe characters keep the name existing deployments store their tokens under.
    assert token_variable_name("lockit_default") == "lockit_token__lockit_default"
    assert token_variable_name("a.b-c") == "lockit_token__a.b-c"
    assert token_variable_name("x:prod") == token_variable_name("x:prod")
    assert all(
        n.startswith("lockit_token_") and " " not in n and ":" not in n and "/" not in n for n in names
    )


def test_settings_use_the_injective_name(connection) -> None:
    assert settings_from_connection(connection({}, conn_id="x:prod")).token_variable == token_variable_name(
        "x:prod"
    )
    assert token_variable_name("x:prod") != token_variable_name("x/prod")


def test_form_is_built_from_the_table() -> None:
    fields = form_fields()
    assert list(fields) == [extra.name for extra in EXTRAS]
    for extra in EXTRAS:
        form = fields[extra.name]
        assert set(form) == {"label", "description", "schema"}
        assert set(form["schema"]) <= {"type", "format", "default", "enum"}
        assert form["label"] == extra.label
        assert form["schema"]["type"] == [extra.kind, "null"]
        assert form["schema"].get("default") == extra.default
        assert form["schema"].get("enum") == (list(extra.choices) or None)
        assert (form["schema"].get("format") == "password") is extra.secret
    assert {name for name, f in fields.items() if f["schema"].get("format") == "password"} == {
        "access_token",
        "refresh_token",
    }
