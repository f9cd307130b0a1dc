"""Run the sandbox from the command line: ``python -m lockit_provider.sandbox`` or ``lockit-sandbox``.

When ready it prints ``LOCKIT_SANDBOX_CA=<path>`` (with ``--tls``) and then, as the last start-up line,
``LOCKIT_SANDBOX_URL=<base url>`` on stdout. It serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lockit_provider.sandbox.config import RefreshPolicy, check_redirect_uri

T = TypeVar("T")


def _flag_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap a parser so that argparse shows its ValueError message after the flag's name."""

    def parse_flag(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse_flag


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"must be between 0 and 65535; got {text!r}")
    return port


def _positive_int(text: str) -> int:
    if int(text) <= 0:
        raise ValueError(f"must be a positive number of seconds; got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    if not float(text) > 0:
        raise ValueError(f"must be a positive number of seconds; got {text!r}")
    return float(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="lockit-sandbox", description="Serve an embedded LockitNetwork (OAuth 2.0 + API) for testing."
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    add("--port", type=_flag_type(_port), default=0, help="port (default: 0, any free)")
    add("--client-id", default="lockit-client", help="registered client id (default: lockit-client)")
    add("--client-secret", default="lockit-secret", help="registered client secret (default: lockit-secret)")
    add(
        "--redirect-uri",
        type=_flag_type(check_redirect_uri),
        default="http://127.0.0.1:8765/callback",
        help="registered redirect URI",
    )
    add(
        "--refresh-policy",
        type=_flag_type(RefreshPolicy.parse),
        default=RefreshPolicy("rotate"),
        help="static, static-omit, rotate, rotate-grace:SECONDS or rotate-revoke (default: rotate)",
    )
    add(
        "--expires-in",
        type=_flag_type(_positive_int),
        default=604800,
        help="access token lifetime in seconds (default: 604800)",
    )
    add(
        "--code-ttl",
        type=_flag_type(_positive_float),
        default=60.0,
        help="authorization code lifetime in seconds (default: 60)",
    )
    add("--auto-approve", action="store_true", help="skip the consent page and redirect with a code at once")
    add("--tls", action="store_true", help="serve HTTPS with a throw-away CA (its path is printed)")
    add(
        "--loopback-any-port",
        action="store_true",
        help="accept any port on a loopback redirect URI (RFC 8252 7.3)",
    )
    add("--verbose", action="store_true", help="log every request on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGTERM or SIGINT."""
    args = build_parser().parse_args(argv)
    from lockit_provider.sandbox.server import Sandbox  # after parsing: --help and errors stay instant

    stop = threading.Event()

    def request_stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uri=args.redirect_uri,
        refresh_policy=str(args.refresh_policy),
        expires_in=args.expires_in,
        auto_approve=args.auto_approve,
        tls=args.tls,
        loopback_any_port=args.loopback_any_port,
        code_ttl=args.code_ttl,
        verbose=args.verbose,
    )
    try:
        sandbox.start()
    except OSError as exc:
        print(f"lockit-sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        if sandbox.ca_cert_path:
            print(f"LOCKIT_SANDBOX_CA={sandbox.ca_cert_path}")
        print(f"LOCKIT_SANDBOX_URL={sandbox.url}", flush=True)
        print(
            f"lockit-sandbox: client id {args.client_id!r}, client secret {args.client_secret!r}, "
            f"refresh policy {args.refresh_policy}; "
            "stop with Ctrl-C or SIGTERM"
            + ("" if args.tls else "; plain http: clients accept it on loopback hosts only (or use --tls)"),
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
