"""Redaction of error excerpts and logged URLs."""

from __future__ import annotations

import logging

import pytest

from lockit_provider.redaction import RedactingFilter, excerpt, printable, redact, scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/projects?token=abc123&x=1", "/projects?token=[redacted]&x=1"),
        (
            '{"access_token": "abc", "refresh_token":"def"}',
            '{"access_token": "[redacted]", "refresh_token":"[redacted]"}',
        ),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        (
            '{"error": "invalid_token", "error_description": "expired"}',
            '{"error": "invalid_token", "error_description": "expired"}',
        ),
        (
            "project 03c54e3098a9a2f73c2517ac3ed69f66 not found",
            "project 03c54e3098a9a2f73c2517ac3ed69f66 not found",
        ),
    ],
)
def test_token_values_are_redacted_and_the_rest_kept(text, expected):
    assert redact(text) == expected


def test_known_secrets_are_redacted_wherever_they_stand():
    assert redact("echo s3cr3t-value here", ["s3cr3t-value", None]) == "echo [redacted] here"


def test_excerpt_is_one_short_line_redacted_before_it_is_cut():
    secret = "x" * 40
    text = "<html>\n  <body>" + " " * 150 + "oops " + secret + "</body></html>" + "y" * 10_000
    short = excerpt(text, [secret], limit=60)
    assert short == "<html> <body> oops [redacted]</body></html>yyyyyyyyyyyyyyyyy"
    assert "\n" not in short


def test_library_log_records_are_redacted():
    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, 'HTTP Request: GET %s "%s"', ("/p?token=abc", "200"), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == 'HTTP Request: GET /p?token=[redacted] "200"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "client_secret=s3cr3t&grant_type=refresh_token",
            "client_secret=[redacted]&grant_type=refresh_token",
        ),
        ('{"password": "hunter2"}', '{"password": "[redacted]"}'),
        ("Authorization: Basic bG9ja2l0OnNlY3JldA==", "Authorization: Basic [redacted]"),
        ("token 7fJq2LmN9xQ4vR8tW1yZ3aB5 expired", "token [redacted] expired"),  # random-looking run
        ("unsupported_grant_type for api.lockitnetwork.com/oauth/access-token", None),  # codes, hosts, paths
        ("clip 550e8400e29b41d4a716446655440000 missing", None),  # lowercase hex ids stay readable
        # Endpoint paths and clip names: long, upper case and digits, but no part of them random.
        ("LockitNetwork POST /projects/PRJ-NORTHERN-LIGHTS-2026/days/2026-05-13/clips/match 200", None),
        ("unmatched: A001_C001_0512AB.R3D, B002_C011_0513CD.R3D", None),
        ("/v1/7fJq2LmN9xQ4vR8tW1yZ3aB5/x", "/v1/[redacted]/x"),  # a random segment inside a path
    ],
)
def test_one_set_of_rules_for_secrets_and_token_like_runs(text, expected):
    assert redact(text) == (text if expected is None else expected)


def test_excerpts_are_printable_single_lines():
    hostile = "a\x1b[2Jb\x1b]0;title\x07c\u202ed\u200be\x00f\r\nINFO forged\x9b1mg"
    assert excerpt(hostile) == "abcdef INFO forgedg"
    assert printable("tab\tand\u2028line") == "tab and line"


def test_scrub_returns_none_for_nothing_and_redacts_known_secrets():
    assert scrub(None) is None and scrub("  \x1b[0m ") is None
    assert scrub("bad grant plainsecretvalue", ["plainsecretvalue"]) == "bad grant [redacted]"
