"""Declare the ``airflow lockit`` commands.

Every ``airflow`` invocation imports this module, so it only builds argparse metadata and points each
command at its implementation through ``lazy_load_command``.
"""

from __future__ import annotations

from typing import Any

_IMPL = "lockit_provider.cli.commands"


def get_lockit_cli_commands() -> list[Any]:
    """Return the ``lockit`` group command for Airflow's CLI parser."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    conn_id = Arg(
        ("--conn-id",),
        help="Connection id of the LockitNetwork connection (default: lockit_default)",
        default="lockit_default",
    )
    authorize_args = (
        conn_id,
        Arg(("--client-id",), help="OAuth client id; stored in the connection's login"),
        Arg(
            ("--client-secret",),
            help="OAuth client secret (visible in the process list: prefer --client-secret-env or the "
            "prompt)",
        ),
        Arg(
            ("--client-secret-env",),
            metavar="VAR",
            help="Read the client secret from this environment variable",
        ),
        Arg(("--api-url",), help="API base URL (default https://api.lockitnetwork.com)"),
        Arg(("--redirect-uri",), help="Registered redirect URI, e.g. http://127.0.0.1:8765/callback"),
        Arg(
            ("--ca-bundle",),
            metavar="PATH",
            help="PEM file of the CA that signed the server's certificate (a private CA); stored in the "
            "connection's extra 'ca_bundle', so the path must exist on every worker",
        ),
        Arg(("--no-pkce",), action="store_true", help="Do not send a PKCE S256 challenge"),
        Arg(("--no-browser",), action="store_true", help="Only print the authorization URL"),
        Arg(("--paste",), action="store_true", help="Paste the redirect URL (or code) at a prompt"),
        Arg(
            ("--redirect-url",),
            metavar="URL",
            help="The full redirect URL from the browser: finishes the request an earlier --paste run on "
            "this host opened (for scripts)",
        ),
        Arg(
            ("--timeout",),
            type=float,
            default=300.0,
            help="Seconds to wait for the browser callback; also how long a --paste request stays open "
            "(default 300)",
        ),
    )
    return [
        GroupCommand(
            name="lockit",
            help="Authorize and inspect LockitNetwork OAuth connections",
            subcommands=(
                ActionCommand(
                    name="authorize",
                    help="Run the one-time OAuth authorization and store the tokens",
                    func=lazy_load_command(f"{_IMPL}.authorize"),
                    args=authorize_args,
                ),
                ActionCommand(
                    name="status",
                    help="Show where the live token record is and when it expires (no secrets)",
                    func=lazy_load_command(f"{_IMPL}.status"),
                    args=(
                        conn_id,
                        Arg(("--json",), action="store_true", help="Print JSON"),
                        Arg(
                            ("--sync",),
                            action="store_true",
                            help="First copy the live token record into the connection's extras (metadata "
                            "DB), so an exported connection carries the current tokens",
                        ),
                    ),
                ),
                ActionCommand(
                    name="refresh",
                    help="Refresh the access token now through the single-flight refresher",
                    func=lazy_load_command(f"{_IMPL}.refresh"),
                    args=(conn_id,),
                ),
            ),
        )
    ]
