"""Build the one Refresher shape every caller uses: hooks, triggers and the CLI."""

from __future__ import annotations

from lockit_provider.oauth.client import OAuthClient, OAuthClientConfig
from lockit_provider.oauth.journal import RescueJournal
from lockit_provider.oauth.redis_lock import RedisRefreshLock
from lockit_provider.oauth.refresher import Refresher
from lockit_provider.oauth.store import TokenStore
from lockit_provider.settings import LockitSettings, require_client_secret
from lockit_provider.tokens.bootstrap import bootstrap_record
from lockit_provider.tokens.variable_store import VariableTokenStore


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
    """Return a Refresher on the connection's Variable store (or the given store)."""
    return Refresher(
        oauth_client(settings),
        store if store is not None else VariableTokenStore(settings.token_variable),
        key=settings.token_variable,
        bootstrap=bootstrap_record(settings),
        lock_dir=settings.lock_dir,
        journal=rescue_journal(settings),
        leeway=settings.refresh_leeway,
        reauth_command=settings.reauth_command,
        recover_command=f"airflow lockit refresh --conn-id {settings.conn_id}",
        on_new_token=_mask_secret,
        host_lock=RedisRefreshLock(settings.lock_url, settings.token_variable) if settings.lock_url else None,
    )


def _mask_secret(token: str) -> None:
    """Register a token with Airflow's secret masker (reaches the supervisor inside tasks)."""
    from airflow.sdk.log import mask_secret

    mask_secret(token)
