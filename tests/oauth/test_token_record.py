"""TokenRecord: strict parsing of token responses, secret-free repr, JSON, and the bootstrap rule."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lockit_provider.exceptions import TokenRecordError, TokenResponseError
from lockit_provider.oauth.token import TokenRecord, choose_record, fingerprint

NOW = 1_700_000_000.0
ACCESS = "access-AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
REFRESH = "refresh-RRRRRRRRRRRRRRRRRRRRRRRRRRR"


def parse(payload: object, previous: TokenRecord | None = None, **kwargs) -> TokenRecord:
    return TokenRecord.from_token_response(
        payload, previous=previous, now=NOW, obtained_by="host/1", **kwargs
    )


def record(**changes) -> TokenRecord:
    base = TokenRecord(
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_at=NOW + 3600,
        obtained_at=NOW,
        obtained_by="host/1",
        generation=3,
        bootstrap_fingerprint="b00t",
    )
    return dataclasses.replace(base, **changes)


def test_vendor_response_parses_into_a_first_generation_record():
    parsed = parse(
        {"access_token": ACCESS, "refresh_token": REFRESH, "token_type": "Bearer", "expires_in": 604800}
    )
    assert (parsed.access_token, parsed.refresh_token) == (ACCESS, REFRESH)
    assert parsed.expires_at == NOW + 604800
    assert (parsed.obtained_at, parsed.obtained_by, parsed.generation) == (NOW, "host/1", 1)
    assert parsed.token_type == "Bearer" and parsed.bootstrap_fingerprint is None


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", "Bearer", None])
def test_token_type_is_bearer_in_any_case_or_absent(token_type):
    payload = {"access_token": ACCESS, "token_type": token_type}
    if token_type is None:
        del payload["token_type"]
    assert parse(payload).token_type == "Bearer"


@pytest.mark.parametrize("token_type", ["mac", "", 7, "DPoP"])
def test_other_token_types_are_refused_naming_the_member(token_type):
    with pytest.raises(TokenResponseError, match="token_type") as caught:
        parse({"access_token": ACCESS, "token_type": token_type})
    assert caught.value.member == "token_type"


@pytest.mark.parametrize("payload", [[ACCESS], "access_token", None, 42])
def test_a_body_that_is_not_a_json_object_is_refused(payload):
    with pytest.raises(TokenResponseError, match="not a JSON object"):
        parse(payload)


@pytest.mark.parametrize("payload", [{}, {"access_token": ""}, {"access_token": None}, {"access_token": 12}])
def test_missing_or_empty_access_token_is_refused_naming_the_member(payload):
    with pytest.raises(TokenResponseError, match="'access_token'") as caught:
        parse(payload)
    assert caught.value.member == "access_token"


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [(3600, 3600), ("3600", 3600), (" 120 ", 120), (3600.9, 3600), (1, 1), (366 * 86400, 366 * 86400)],
)
def test_expires_in_accepts_numbers_and_digit_strings(expires_in, seconds):
    assert parse({"access_token": ACCESS, "expires_in": expires_in}).expires_at == NOW + seconds


@pytest.mark.parametrize(
    "expires_in",
    [
        "soon",
        "3600.5",
        "",
        True,
        False,
        -5,
        0,
        0.5,
        [3600],
        float("nan"),
        float("inf"),
        366 * 86400 + 1,
        1e20,
    ],
)
def test_bad_expires_in_gives_a_clear_error(expires_in):
    with pytest.raises(
        TokenResponseError, match=r"'expires_in' must be a number of seconds from 1 to 31622400 \(a year\)"
    ) as caught:
        parse({"access_token": ACCESS, "expires_in": expires_in})
    assert caught.value.member == "expires_in"


def test_absent_expires_in_uses_the_default():
    assert parse({"access_token": ACCESS}).expires_at == NOW + 3600
    assert parse({"access_token": ACCESS}, default_expires_in=60).expires_at == NOW + 60


def test_extra_members_are_ignored():
    parsed = parse({"access_token": ACCESS, "scope": "read write", "id_token": "x.y.z", "foo": {"bar": 1}})
    assert parsed.access_token == ACCESS


@pytest.mark.parametrize("payload", [{"access_token": "new"}, {"access_token": "new", "refresh_token": ""}])
def test_missing_refresh_token_keeps_the_previous_one_and_counts_up(payload):
    parsed = parse(payload, previous=record())
    assert parsed.refresh_token == REFRESH
    assert parsed.generation == 4
    assert parsed.bootstrap_fingerprint == "b00t"  # still descends from the same Connection tokens


def test_refresh_token_of_the_wrong_type_is_refused():
    with pytest.raises(TokenResponseError, match="'refresh_token'"):
        parse({"access_token": ACCESS, "refresh_token": 5})


def test_repr_and_str_show_no_secret():
    shown = repr(record()) + str(record()) + repr([record()])
    assert ACCESS not in shown and REFRESH not in shown
    assert "generation=3" in shown and "host/1" in shown and "2023-11-14T23:13:20Z" in shown
    assert f"fingerprint={record().fingerprint()[:8]}" in shown


def test_client_id_is_recorded_and_optional_in_stored_records():
    parsed = parse({"access_token": ACCESS}, client_id="lockit-client")
    assert parsed.client_id == "lockit-client"
    assert parse({"access_token": ACCESS}, previous=parsed).client_id == "lockit-client"
    assert TokenRecord.from_json(parsed.to_json()).client_id == "lockit-client"
    # A record written before the member existed still loads, with no client id (same version).
    old = {k: v for k, v in json.loads(record().to_json()).items() if k != "client_id"}
    assert old["version"] == 1
    assert TokenRecord.from_json(json.dumps(old)).client_id is None


def test_json_round_trip_is_versioned():
    text = record().to_json()
    assert json.loads(text)["version"] == 1
    assert TokenRecord.from_json(text) == record()
    assert TokenRecord.from_json(record(refresh_token=None).to_json()).refresh_token is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({**json.loads(record().to_json()), "version": 9}), "version '9'"),
        (json.dumps({**json.loads(record().to_json()), "expires_at": None}), "'expires_at'"),
        (json.dumps({**json.loads(record().to_json()), "generation": True}), "'generation'"),
        (
            json.dumps({k: v for k, v in json.loads(record().to_json()).items() if k != "obtained_by"}),
            "'obtained_by'",
        ),
        (json.dumps({**json.loads(record().to_json()), "client_id": 7}), "'client_id'"),
        # Stored before responses were validated: must not reach an Authorization header.
        (
            json.dumps({**json.loads(record().to_json()), "access_token": ACCESS + "\r\nX: y"}),
            "'access_token' has characters a bearer token cannot have",
        ),
        (
            json.dumps({**json.loads(record().to_json()), "refresh_token": "r" * 9000}),
            "'refresh_token' is 9000 characters long, over the limit of 8192",
        ),
    ],
)
def test_from_json_is_strict_and_names_the_problem_without_the_token(text, problem):
    with pytest.raises(TokenRecordError, match=problem) as caught:
        TokenRecord.from_json(text)
    assert ACCESS not in str(caught.value)
    # No chained JSONDecodeError: it would carry the raw text (and the tokens) in its .doc attribute.
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_expires_within():
    assert not record().expires_within(300, NOW)
    assert record().expires_within(300, NOW + 3400)
    assert record().expires_within(0, NOW + 3600)


def test_fingerprint_is_short_stable_and_ignores_fractions_of_a_second():
    assert fingerprint(ACCESS, REFRESH, NOW + 0.9) == fingerprint(ACCESS, REFRESH, int(NOW))
    assert fingerprint(ACCESS, REFRESH, NOW) != fingerprint(ACCESS, "other", NOW)
    assert fingerprint(None, REFRESH, None) != fingerprint(ACCESS, REFRESH, None)
    digest = fingerprint(ACCESS, REFRESH, NOW)
    assert len(digest) == 16 and int(digest, 16) >= 0 and ACCESS not in digest


def bootstrap_from_connection(source: TokenRecord) -> TokenRecord:
    """Build the bootstrap record the way the Connection stores it (expiry as an integer)."""
    expires_at = int(source.expires_at)
    return dataclasses.replace(
        source,
        expires_at=expires_at,
        generation=0,
        bootstrap_fingerprint=fingerprint(source.access_token, source.refresh_token, expires_at),
    )


def test_choose_record_with_nothing_or_one_side():
    live = record()
    assert choose_record(None, None) is None
    assert choose_record(live, None) is live
    boot = bootstrap_from_connection(record(expires_at=NOW + 0.5))
    assert choose_record(None, boot) == boot


def test_live_record_wins_while_the_connection_tokens_are_the_ones_it_came_from():
    authorized = record(generation=1, expires_at=NOW + 3600.25).as_bootstrap()
    boot = bootstrap_from_connection(authorized)
    refreshed = parse({"access_token": "next"}, previous=authorized)
    assert choose_record(refreshed, boot) is refreshed
    assert choose_record(authorized, boot) is authorized


def test_changed_connection_tokens_win_and_count_as_newer():
    live = record(generation=7, bootstrap_fingerprint=fingerprint("old", "old", NOW))
    boot = bootstrap_from_connection(record(access_token="re-authorized", refresh_token="fresh"))
    chosen = choose_record(live, boot)
    assert chosen is not None
    assert (chosen.access_token, chosen.refresh_token) == ("re-authorized", "fresh")
    assert chosen.generation == 8 and chosen.bootstrap_fingerprint == boot.bootstrap_fingerprint
    # A record refreshed from it then wins over the Connection: the rule converges.
    assert choose_record(parse({"access_token": "next"}, previous=chosen), boot).access_token == "next"


def test_bootstrap_without_a_fingerprint_is_fingerprinted_on_the_fly():
    boot = record(bootstrap_fingerprint=None)
    chosen = choose_record(record(bootstrap_fingerprint=None, access_token="live"), boot)
    assert chosen is not None and chosen.access_token == ACCESS
    assert chosen.bootstrap_fingerprint == boot.fingerprint()
