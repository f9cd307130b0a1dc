"""Every bad connection value gives one LockitConfigError naming the field, the value and the fix.

The cases are a table: the numeric, boolean, enum and text extras are generated from the extras table
itself, so a new extra is covered the day it is added.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.models.connection import Connection as OrmConnection

from lockit_provider.connection_extras import EXTRAS, MAX_EXPIRY_AHEAD, Extra
from lockit_provider.exceptions import LockitConfigError
from lockit_provider.settings import settings_from_connection
from tests.settings.conftest import CLIENT_SECRET

HOST_PASSWORD = "hunter2-host-pw"
LOCK_PASSWORD = "redis-pw-8c1d"
TOKEN = "tok_3b9e1f0a7c5d2e8f6a4b"


@dataclass(frozen=True)
class Bad:
    """One bad input and the exact outcome: the field, how the value is shown, the fix."""

    id: str
    field: str
    shows: str
    fix: str
    extra: Any = None
    host: str | None = "https://api.example.com"
    secrets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


def numeric_cases(extra: Extra) -> list[Bad]:
    fix = f"use {extra.allowed()}"
    n = extra.name
    cases = [
        Bad(f"{n}-text", n, '"abc"', fix, {n: "abc"}),
        Bad(f"{n}-bool", n, "true", fix, {n: True}),
        Bad(f"{n}-list", n, "[1]", fix, {n: [1]}),
        Bad(f"{n}-inf", n, "Infinity", fix, f'{{"{n}": Infinity}}'),
        Bad(f"{n}-nan", n, "NaN", fix, f'{{"{n}": NaN}}'),
        Bad(f"{n}-inf-text", n, '"inf"', fix, {n: "inf"}),
        Bad(f"{n}-negative", n, "-1", fix, {n: -1}),
    ]
    if extra.positive:
        cases.append(Bad(f"{n}-zero", n, "0", fix, {n: 0}))
    if extra.maximum is not None:
        cases.append(Bad(f"{n}-too-big", n, str(int(extra.maximum) + 1), fix, {n: int(extra.maximum) + 1}))
    if extra.kind == "integer":
        cases.append(Bad(f"{n}-fraction", n, "2.5", fix, {n: 2.5}))
    return cases


def choice_cases(extra: Extra) -> list[Bad]:
    n = extra.name
    if extra.kind == "boolean":
        fix = "use true or false"
        return [Bad(f"{n}-junk", n, '"maybe"', fix, {n: "maybe"}), Bad(f"{n}-two", n, "2", fix, {n: 2})]
    fix = f"use {extra.allowed()}"
    return [Bad(f"{n}-junk", n, '"junk"', fix, {n: "junk"}), Bad(f"{n}-number", n, "1", fix, {n: 1})]


def text_cases(extra: Extra) -> list[Bad]:
    n = extra.name
    shows = "'***'" if extra.secret else "12345"
    return [
        Bad(f"{n}-not-text", n, shows, "write it as a JSON string", {n: 12345}),
        Bad(f"{n}-line-break", n, "'***'" if extra.secret else '"a\\nb"', "remove it", {n: "a\nb"}),
    ]


GENERATED = [
    case
    for extra in EXTRAS
    for case in (
        numeric_cases(extra)
        if extra.kind in ("number", "integer")
        else choice_cases(extra)
        if extra.kind == "boolean" or extra.choices
        else text_cases(extra)
    )
]

NOT_AN_OBJECT = "write a JSON object"
HOST_FIX = "give scheme://host[:port] only"
CASES = [
    *GENERATED,
    # The Extra field is not a JSON object (today: "no token... authorize").
    Bad("extra-list", "extra", "a JSON array, not an object", NOT_AN_OBJECT, "[1, 2]"),
    Bad(
        "extra-string", "extra", "a JSON string, not an object", NOT_AN_OBJECT, f'"{TOKEN}"', secrets=(TOKEN,)
    ),
    Bad("extra-null", "extra", "null, not a JSON object", NOT_AN_OBJECT, "null"),
    Bad(
        "extra-not-json",
        "extra",
        "not valid JSON (",
        NOT_AN_OBJECT,
        f"{{access_token: {TOKEN}}}",
        secrets=(TOKEN,),
    ),
    # expires_at: a unit mistake, far in the future, negative.
    Bad(
        "expires-ms",
        "expires_at",
        str(int(time.time() * 1000)),
        "divide by 1000",
        {"expires_at": int(time.time() * 1000)},
    ),
    Bad(
        "expires-far",
        "expires_at",
        str(int(time.time() + MAX_EXPIRY_AHEAD + 86400)),
        "give epoch seconds",
        {"expires_at": int(time.time() + MAX_EXPIRY_AHEAD + 86400)},
    ),
    # The API base URL (field 'host').
    Bad("host-no-scheme", "host", '"api.example.com"', "https://api.example.com", host="api.example.com"),
    Bad("host-ftp", "host", '"ftp://api.example.com"', "use an https:// URL", host="ftp://api.example.com"),
    Bad("host-path", "host", '"https://api.example.com/v1"', HOST_FIX, host="https://api.example.com/v1"),
    Bad(
        "host-query", "host", '"https://api.example.com?***"', HOST_FIX, host="https://api.example.com?key=v"
    ),
    Bad(
        "host-fragment",
        "host",
        '"https://api.example.com#***"',
        "use an https:// URL",
        host="https://api.example.com#x",
    ),
    Bad(
        "host-port",
        "host",
        '"https://api.example.com:99999"',
        "use an https:// URL",
        host="https://api.example.com:99999",
    ),
    Bad(
        "host-userinfo",
        "host",
        '"https://***@api.example.com"',
        "remove the user:password@ part",
        host=f"https://lockit:{HOST_PASSWORD}@api.example.com",
        secrets=(HOST_PASSWORD,),
    ),
    Bad(
        "host-userinfo-no-scheme",
        "host",
        '"***@api.example.com"',
        "remove the user:password@ part",
        host=f"lockit:{HOST_PASSWORD}@api.example.com",
        secrets=(HOST_PASSWORD,),
    ),
    Bad("host-plain-http", "host", '"http://api.example.com"', "use https://", host="http://api.example.com"),
    Bad(
        "host-space",
        "host",
        '"https://api example.com"',
        "use an https:// URL",
        host="https://api example.com",
    ),
    Bad("port-field", "port", "8443", "put the port in the API base URL", fields={"port": 8443}),
    Bad("login-empty", "login", "Client ID (field 'login') is empty", "--client-id", fields={"login": " "}),
    # Endpoint URLs.
    Bad(
        "token-url-relative",
        "token_url",
        '"/oauth/token"',
        "give an absolute https:// URL",
        {"token_url": "/oauth/token"},
    ),
    Bad(
        "authorize-url-userinfo",
        "authorize_url",
        '"https://***@id.example.com/authorize"',
        "give an absolute https:// URL",
        {"authorize_url": f"https://u:{HOST_PASSWORD}@id.example.com/authorize"},
        secrets=(HOST_PASSWORD,),
    ),
    Bad(
        "redirect-fragment",
        "redirect_uri",
        '"http://127.0.0.1:8765/callback#***"',
        "give an absolute https:// URL",
        {"redirect_uri": "http://127.0.0.1:8765/callback#x"},
    ),
    # Local state: a relative directory loses single-flight.
    Bad(
        "state-dir-relative",
        "state_dir",
        '"lockit-state"',
        "give an absolute path",
        {"state_dir": "lockit-state"},
    ),
    Bad(
        "state-dir-env-relative",
        "LOCKIT_STATE_DIR",
        '"state"',
        "give an absolute path",
        env={"LOCKIT_STATE_DIR": "state"},
    ),
    Bad(
        "airflow-home-relative",
        "AIRFLOW_HOME",
        '"airflow-home"',
        "give an absolute path",
        env={"LOCKIT_STATE_DIR": "", "AIRFLOW_HOME": "airflow-home"},
    ),
    Bad(
        "ca-bundle-missing",
        "ca_bundle",
        '"/nonexistent/ca.pem"',
        "give the absolute path",
        {"ca_bundle": "/nonexistent/ca.pem"},
    ),
    Bad("ca-bundle-relative", "ca_bundle", '"ca.pem"', "give the absolute path", {"ca_bundle": "ca.pem"}),
    # The cross-host lock.
    Bad(
        "lock-url-password",
        "lock_url",
        '"redis://***@redis:6379/0"',
        "set extra 'lock_conn_id'",
        {"lock_url": f"redis://:{LOCK_PASSWORD}@redis:6379/0"},
        secrets=(LOCK_PASSWORD,),
    ),
    Bad(
        "lock-url-user-password",
        "lock_url",
        '"redis://***@redis:6379/0"',
        "set extra 'lock_conn_id'",
        {"lock_url": f"redis://default:{LOCK_PASSWORD}@redis:6379/0"},
        secrets=(LOCK_PASSWORD,),
    ),
    Bad(
        "lock-url-query-password",
        "lock_url",
        '"redis://redis:6379/0?***"',
        "set extra 'lock_conn_id'",
        {"lock_url": f"redis://redis:6379/0?password={LOCK_PASSWORD}"},
        secrets=(LOCK_PASSWORD,),
    ),
    Bad("lock-url-scheme", "lock_url", '"http://redis:6379"', "redis://", {"lock_url": "http://redis:6379"}),
    Bad(
        "lock-url-and-conn",
        "lock_url",
        '"redis://redis:6379/0"',
        "keep one of the two",
        {"lock_url": "redis://redis:6379/0", "lock_conn_id": "redis_default"},
    ),
    Bad(
        "lock-conn-self",
        "lock_conn_id",
        '"lockit_self"',
        "type redis or postgres",
        {"lock_conn_id": "lockit_self"},
    ),
]


def leaks(text: str, case: Bad) -> list[str]:
    return [s for s in (CLIENT_SECRET, TOKEN, *case.secrets) if s in text]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_value_names_field_value_and_fix(case: Bad, connection, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths must be refused, not resolved against some directory
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    conn = connection(case.extra, host=case.host, conn_id="lockit_self", **case.fields)

    with pytest.raises(LockitConfigError) as info:
        settings_from_connection(conn)

    error = info.value
    message = str(error)
    assert error.field == case.field
    assert f"'{case.field}'" in message or f"variable {case.field}" in message
    assert case.shows in message
    assert case.fix in message
    assert "\n" not in message
    assert not leaks(message, case) and not leaks(repr(error), case)
    # One clear error: nothing chained that a traceback would print underneath.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_every_extra_is_covered() -> None:
    covered = {case.field for case in GENERATED}
    assert covered == {extra.name for extra in EXTRAS}


@pytest.mark.parametrize("extra", ['{"timeout": "abc"}', "[1, 2]", "{not json"])
def test_orm_connection_gives_the_same_error(extra: str) -> None:
    # The CLI reads ORM Connections; one loaded from the DB with bad extras raises on `.extra` itself.
    conn = OrmConnection(conn_id="lockit_orm", conn_type="lockit", host="https://api.example.com", login="id")
    conn._extra = extra  # as loaded from the DB: the constructor would refuse it
    with pytest.raises(LockitConfigError) as info:
        settings_from_connection(conn)
    assert info.value.field in ("timeout", "extra")
