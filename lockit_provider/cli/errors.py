"""Turn expected failures of the ``airflow lockit`` commands into a one-line reason and exit 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests

from lockit_provider.exceptions import LockitError


class CliError(Exception):
    """An expected failure of a CLI command; its message is the one-line reason shown to the user."""


# Failures a person can act on from the message alone; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (CliError, LockitError, requests.RequestException)


def one_line(error: BaseException) -> str:
    """Return the error's message on one line (messages of the OAuth core never carry a token)."""
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def cli_errors(command: str) -> Iterator[None]:
    """Exit with ``lockit <command>: <reason>`` instead of a traceback for expected failures."""
    try:
        yield
    except EXPECTED_ERRORS as error:
        raise SystemExit(f"lockit {command}: {one_line(error)}") from None
    except KeyboardInterrupt:
        raise SystemExit(f"lockit {command}: interrupted") from None
