"""authorize: when the fresh tokens cannot be stored they go to the rescue journal, never only memory."""

from __future__ import annotations

import json
import time

import pytest
from airflow.models.connection import Connection

from lockit_provider.cli.authorization import _store
from lockit_provider.cli.connections import METADATA_DB, LocatedConnection
from lockit_provider.cli.errors import CliError
from lockit_provider.oauth.token import TokenRecord
from lockit_provider.settings import settings_from_connection
from lockit_provider.tokens.refresher_factory import build_refresher, rescue_journal
from lockit_provider.tokens.variable_store import VariableTokenStore
from tests.support.connections import new_conn_id


def test_tokens_that_cannot_be_stored_are_journaled_and_replayed(airflow_db, sandbox, monkeypatch):
    conn_id = new_conn_id()
    # The connection vanished from the metadata DB between the browser step and the write.
    conn = Connection(
        conn_id=conn_id,
        conn_type="lockit",
        host=sandbox.url,
        login=sandbox.config.client_id,
        password=sandbox.config.client_secret,
        extra=json.dumps({"redirect_uri": sandbox.config.redirect_uri}),
    )
    settings = settings_from_connection(conn)
    payload = sandbox.issue_tokens()
    record = TokenRecord.from_token_response(payload, previous=None, now=time.time(), obtained_by="test/1")

    with pytest.raises(CliError) as info:
        _store(LocatedConnection(conn=conn, source=METADATA_DB), settings, record)

    message = str(info.value)
    assert "LookupError" in message
    assert f"airflow lockit refresh --conn-id {conn_id}" in message
    assert payload["access_token"] not in message and payload["refresh_token"] not in message
    store = VariableTokenStore(settings.token_variable)
    assert store.load() is None
    journal = rescue_journal(settings)
    assert journal.has(settings.token_variable)
    assert str(journal.path_for(settings.token_variable)) in message

    # The next token request on this host moves the journal entry into the store; nothing is spent.
    replayed = build_refresher(settings).get_record()

    assert replayed.refresh_token == payload["refresh_token"]
    assert store.load() == replayed
    assert sandbox.stats()["token_requests"].get("refresh_token", 0) == 0
    assert not journal.has(settings.token_variable)
