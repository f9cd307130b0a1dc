"""``airflow lockit authorize``: one authorization code grant, stored where every worker finds it."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from getpass import getpass
from pathlib import Path

import requests

from lockit_provider.cli.connections import LocatedConnection, find_connection, save_connection
from lockit_provider.cli.errors import EXPECTED_ERRORS, CliError, one_line
from lockit_provider.cli.loopback import LoopbackReceiver, is_loopback_redirect
from lockit_provider.cli.output import note, print_fields, record_lines, show_authorization_url
from lockit_provider.cli.paste import code_from_paste, prompt_for_redirect, stdin_is_interactive
from lockit_provider.cli.pending import discard_pending, load_pending, save_pending
from lockit_provider.cli.tls import check_token_endpoint, tls_failure, tls_message
from lockit_provider.cli.transport import require_secure_transport
from lockit_provider.exceptions import TokenRecordError
from lockit_provider.oauth.client import OAuthClient
from lockit_provider.oauth.token import TokenRecord
from lockit_provider.settings import LockitSettings, require_client_secret, settings_from_connection
from lockit_provider.tokens.bootstrap import bootstrap_record, write_bootstrap
from lockit_provider.tokens.refresher_factory import oauth_client, rescue_journal
from lockit_provider.tokens.variable_store import VariableTokenStore


def run_authorize(args: argparse.Namespace) -> None:
    """Authorize the connection, store its tokens, verify them with one API call and summarize."""
    located = _configured_connection(args)
    settings = settings_from_connection(located.conn)
    if args.no_pkce:
        settings = replace(settings, use_pkce=False)
    require_client_secret(settings)
    require_secure_transport(settings.authorize_url, settings.token_url)
    check_token_endpoint(settings)  # a wrong CA or URL fails here, before the user consents in a browser
    client = oauth_client(settings)
    try:
        record = _obtain_record(args, settings, client)
    finally:
        client.close()
    record, stored_in = _store(located, settings, record)
    failure = None
    try:
        verified = f"GET {settings.api_url}/projects lists {_count_projects(settings, record)} project(s)"
    except (CliError, requests.RequestException) as error:
        failure = _explain_tls(settings, error) or error
        verified = f"FAILED: {one_line(failure)}"
    fields = [("tokens stored in", stored_in), *record_lines(record), ("verified", verified)]
    print_fields(f"Authorized connection {settings.conn_id!r}.", fields)
    if failure is not None:
        raise CliError(f"the tokens are stored, but verifying them failed: {one_line(failure)}")


# --- the Connection ------------------------------------------------------------------------------
def _configured_connection(args: argparse.Namespace) -> LocatedConnection:
    """Return the Connection to authorize, created or updated first from the command's options."""
    located = find_connection(args.conn_id)
    offered = {"host": args.api_url, "login": args.client_id, "password": _new_secret(args, located)}
    fields = {name: value for name, value in offered.items() if value}
    extras = {"redirect_uri": args.redirect_uri} if args.redirect_uri else {}
    if args.ca_bundle:
        extras["ca_bundle"] = _ca_bundle_path(args.ca_bundle)
    if not fields and not extras:
        if located is None:
            raise CliError(
                f"connection {args.conn_id!r} is not defined: create it with --client-id ID --api-url URL "
                "--redirect-uri URI and --client-secret-env VAR (or answer the secret prompt)"
            )
        return located
    if located is not None and not located.in_metadata_db:
        raise CliError(
            f"connection {args.conn_id!r} comes from the {located.source}, which this command cannot change: "
            "drop --client-id, --client-secret*, --api-url, --redirect-uri and --ca-bundle, or change it "
            "there"
        )
    if located is None and not {"login", "password"} <= fields.keys():
        raise CliError(
            f"connection {args.conn_id!r} does not exist yet: creating it needs --client-id and a client "
            "secret (--client-secret-env VAR, or the prompt at a terminal)"
        )
    saved = save_connection(args.conn_id, fields, extras)
    note(f"{'Created' if located is None else 'Updated'} connection {args.conn_id!r} in the metadata DB.")
    return saved


def _ca_bundle_path(path: str) -> str:
    """Return ``--ca-bundle`` as an absolute path (workers resolve it, not this shell), if it is a file."""
    bundle = Path(path).expanduser()
    if not bundle.is_file():
        raise CliError(f"--ca-bundle: {path!r} is not a file; give the path of the CA's PEM file")
    return str(bundle.resolve())


def _new_secret(args: argparse.Namespace, located: LocatedConnection | None) -> str | None:
    """Return a client secret to store: from an option, an environment variable or a no-echo prompt."""
    if args.client_secret:
        return str(args.client_secret)
    if args.client_secret_env:
        secret = os.environ.get(args.client_secret_env, "")
        if not secret:
            raise CliError(f"--client-secret-env: the environment variable {args.client_secret_env} is empty")
        return secret
    writable = located is None or located.in_metadata_db
    if writable and (located is None or not located.conn.password) and stdin_is_interactive():
        return getpass(f"Client secret for connection {args.conn_id!r} (not echoed): ")
    return None


# --- the grant -----------------------------------------------------------------------------------
def _obtain_record(args: argparse.Namespace, settings: LockitSettings, client: OAuthClient) -> TokenRecord:
    """Run the grant in the mode the options and the redirect URI call for; return the first record."""
    if args.redirect_url:
        return _finish_pending(args.redirect_url, settings, client)
    request = client.authorization_request()
    open_browser = not args.no_browser
    if args.paste or not is_loopback_redirect(settings.redirect_uri):
        if not args.paste:
            note(
                f"The redirect URI {settings.redirect_uri} is not a plain-http loopback address: paste mode."
            )
        save_pending(settings, request, args.timeout)
        show_authorization_url(request.url, settings.conn_id, open_browser=open_browser)
        interactive = stdin_is_interactive()
        code = code_from_paste(client, prompt_for_redirect(), state=request.state, interactive=interactive)
        return _redeem(client, code, request.code_verifier, settings)

    def redeem(redirect_url: str) -> TokenRecord:
        code = client.code_from_redirect(redirect_url, state=request.state)
        return _redeem(client, code, request.code_verifier, settings)

    with LoopbackReceiver(settings.redirect_uri, redeem, state=request.state) as receiver:  # binds first
        show_authorization_url(request.url, settings.conn_id, open_browser=open_browser)
        note(f"Waiting up to {args.timeout:g} s for the redirect to {settings.redirect_uri} ...")
        return receiver.wait(args.timeout)


def _finish_pending(redirect_url: str, settings: LockitSettings, client: OAuthClient) -> TokenRecord:
    """Redeem a redirect given with ``--redirect-url`` against the request an earlier run started."""
    pending = load_pending(settings)
    if pending is None:
        raise CliError(
            f"no open authorization request for connection {settings.conn_id!r} on this host (none was "
            f"started, or it expired): run `{settings.reauth_command} --paste`, approve in the browser, "
            "then paste the redirect URL or pass it with --redirect-url"
        )
    if pending.redirect_uri != settings.redirect_uri:
        raise CliError("the connection's redirect URI changed since the request was started: start again")
    code = code_from_paste(client, redirect_url, state=pending.state, interactive=False)
    return _redeem(client, code, pending.code_verifier, settings)


def _redeem(client: OAuthClient, code: str, verifier: str | None, settings: LockitSettings) -> TokenRecord:
    try:
        record = client.exchange_code(code, code_verifier=verifier)
    except EXPECTED_ERRORS as error:
        explained = _explain_tls(settings, error)
        if explained is None:
            raise
        raise explained from None
    discard_pending(settings)  # the request is used up; its state must not be accepted again
    return record


# --- storing and verifying -----------------------------------------------------------------------
def _store(
    located: LocatedConnection, settings: LockitSettings, record: TokenRecord
) -> tuple[TokenRecord, str]:
    """Write the tokens where tasks find them; if that fails, keep them in the rescue journal.

    The code is spent by now: these tokens exist nowhere else, so they are never only in memory.
    """
    try:
        return _write_tokens(located, settings, record)
    except Exception as error:
        # Tied to the tokens the Connection holds now, so the next refresh on this host replays it.
        boot = bootstrap_record(settings)
        rescued = replace(record, bootstrap_fingerprint=boot.bootstrap_fingerprint if boot else None)
        path = rescue_journal(settings).put(settings.token_variable, rescued)
        raise CliError(
            # Only the type: a database error's text can quote the SQL parameters, i.e. the tokens.
            f"the new tokens could not be stored ({type(error).__name__}); they are kept, "
            f"encrypted, in the rescue journal {path}. Once the metadata DB accepts writes, run `airflow "
            f"lockit refresh --conn-id {settings.conn_id}` on this host to move them into the token store"
        ) from None


def _write_tokens(
    located: LocatedConnection, settings: LockitSettings, record: TokenRecord
) -> tuple[TokenRecord, str]:
    """Write the Connection (when the metadata DB holds it) and then the live store; say where."""
    store = VariableTokenStore(settings.token_variable)
    record = replace(record, generation=_next_generation(store, settings))
    if located.in_metadata_db:
        write_bootstrap(settings.conn_id, record)
        record = record.as_bootstrap()
        store.save(record)
        return record, f"the connection's extras and the Airflow Variable {store.key!r}"
    # The Connection keeps whatever tokens it carries: tie the record to them, or they would win.
    boot = bootstrap_record(settings)
    record = replace(record, bootstrap_fingerprint=boot.bootstrap_fingerprint if boot else None)
    store.save(record)
    return record, (
        f"the Airflow Variable {store.key!r} only (the connection comes from the {located.source}, which "
        "this command cannot write)"
    )


def _next_generation(store: VariableTokenStore, settings: LockitSettings) -> int:
    """Return a generation above the stored record and any rescue-journal entry, so neither wins later."""
    try:
        live = store.load()
    except TokenRecordError:
        live = None  # unreadable: this authorization replaces it
    generations = [live.generation] if live is not None else []
    generations += [
        entry.generation
        for entry in rescue_journal(settings).entries()
        if entry.key == settings.token_variable
    ]
    return max(generations, default=0) + 1


def _explain_tls(settings: LockitSettings, error: BaseException) -> CliError | None:
    """Return a one-line error naming host, verify error and ``ca_bundle`` if TLS caused ``error``."""
    failure = tls_failure(error)
    if failure is None:
        return None
    return CliError(tls_message(*failure, settings.ca_bundle))


def _count_projects(settings: LockitSettings, record: TokenRecord) -> int:
    """Call ``GET /projects`` with the new access token and return how many projects it lists."""
    url = f"{settings.api_url}/projects"
    response = requests.get(
        url,
        headers={"Authorization": f"Bearer {record.access_token}", "Accept": "application/json"},
        timeout=settings.timeout,
        verify=settings.verify,
    )
    if response.status_code != 200:
        raise CliError(f"GET {url} answered HTTP {response.status_code}")
    projects = response.json()
    if not isinstance(projects, list):
        raise CliError(f"GET {url} did not answer a JSON list")
    return len(projects)
