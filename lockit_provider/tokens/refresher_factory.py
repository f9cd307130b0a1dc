"""Build the one Refresher shape every caller uses: hooks, triggers and the CLI.

``shared_refresher`` keeps ONE refresher (and so one in-memory record) per connection per process:
a triggerer running a thousand sensors of one connection reads the store once and refreshes once per
expiry for all of them, and a sync and an async hook in one worker share the same token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections import OrderedDict

from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import TokenStore
from lockit_provider.settings import LockitSettings, require_client_secret
from lockit_provider.tokens.bootstrap import bootstrap_record
from lockit_provider.tokens.cross_host_lock import cross_host_lock
from lockit_provider.tokens.variable_store import VariableTokenStore

SHARED_LIMIT = 64  # connections whose refresher a process keeps; the oldest is dropped beyond that

_shared: OrderedDict[str, Refresher] = OrderedDict()
_shared_guard = threading.Lock()


def oauth_client(settings: LockitSettings) -> OAuthClient:
    """Return an OAuth client configured from the connection settings."""
    return OAuthClient(
        OAuthClientConfig(
            client_id=settings.client_id,
            client_secret=require_client_secret(settings),
            authorize_url=settings.authorize_url,
            token_url=settings.token_url,
            redirect_uri=settings.redirect_uri,
            use_pkce=settings.use_pkce,
            client_auth=settings.client_auth,
            timeout=settings.timeout,
            verify=settings.verify,
        )
    )


def rescue_journal(settings: LockitSettings) -> RescueJournal:
    """Return this host's rescue journal, keyed with the connection's client secret."""
    return RescueJournal(settings.journal_dir, key_material=require_client_secret(settings))


def build_refresher(settings: LockitSettings, *, store: TokenStore | None = None) -> Refresher:
    """Return a new Refresher on the connection's Variable store (or the given store)."""
    return Refresher(
        oauth_client(settings),
        store if store is not None else VariableTokenStore(settings.token_variable),
        key=settings.token_variable,
        bootstrap=bootstrap_record(settings),
        lock_dir=settings.lock_dir,
        journal=rescue_journal(settings),
        leeway=settings.refresh_leeway,
        lock_timeout=settings.lock_timeout,
        reauth_command=settings.reauth_command,
        recover_command=f"airflow lockit refresh --conn-id {settings.conn_id}",
        on_new_token=_mask_secret,
        cross_host_lock=cross_host_lock(settings),
        conn_id=settings.conn_id,
    )


def shared_refresher(settings: LockitSettings, *, store: TokenStore | None = None) -> Refresher:
    """Return this process's refresher for the connection, building it on first use.

    A connection whose settings changed (secret, host, tokens written by a new ``authorize``) gets a
    new entry; a custom ``store`` is part of the key, so tests and callers with their own store do
    not share.
    """
    key = _settings_key(settings, store)
    with _shared_guard:
        refresher = _shared.get(key)
        if refresher is not None:
            _shared.move_to_end(key)
            return refresher
    built = build_refresher(settings, store=store)  # outside the guard: it may read a connection
    with _shared_guard:
        refresher = _shared.setdefault(key, built)
        _shared.move_to_end(key)
        while len(_shared) > SHARED_LIMIT:
            _shared.popitem(last=False)
    return refresher


def _settings_key(settings: LockitSettings, store: TokenStore | None) -> str:
    material = json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str)
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    return f"{digest}:{id(store) if store is not None else ''}"


def _forget_shared() -> None:
    """Start a forked child with no shared refreshers (their locks and sessions belong to the parent)."""
    global _shared_guard
    _shared_guard = threading.Lock()
    _shared.clear()


os.register_at_fork(after_in_child=_forget_shared)


def _mask_secret(token: str) -> None:
    """Register a token with Airflow's secret masker (reaches the supervisor inside tasks)."""
    from airflow.sdk.log import mask_secret

    mask_secret(token)
