"""Turn expected failures of the ``airflow lockit`` commands into a one-line reason and exit 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests
from sqlalchemy.exc import SQLAlchemyError

from lockit_provider.exceptions import LockitError


class CliError(Exception):
    """An expected failure of a CLI command; its message is the one-line reason shown to the user."""


# Failures a person can act on from the message alone; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (CliError, LockitError, requests.RequestException)

# The metadata DB tables every command reads: connections, and Variables (the token store).
REQUIRED_TABLES = ("connection", "variable")


def one_line(error: BaseException) -> str:
    """Return the error's message on one line (messages of the OAuth core never carry a token)."""
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def cli_errors(command: str) -> Iterator[None]:
    """Exit with ``lockit <command>: <reason>`` instead of a traceback for expected failures.

    The metadata DB is checked first: on a fresh ``AIRFLOW_HOME`` every command says to run
    ``airflow db migrate`` instead of failing deep inside the ORM.
    """
    try:
        require_metadata_db()
        yield
    except EXPECTED_ERRORS as error:
        raise SystemExit(f"lockit {command}: {_reason(error)}") from None
    except SQLAlchemyError as error:
        # Only the type: a database error's text quotes the SQL and its parameters, i.e. tokens.
        raise SystemExit(
            f"lockit {command}: the Airflow metadata DB {_db_name()} failed ({type(error).__name__}); "
            "`airflow db check-migrations` tells whether it needs `airflow db migrate`"
        ) from None
    except KeyboardInterrupt:
        raise SystemExit(f"lockit {command}: interrupted") from None


def require_metadata_db() -> None:
    """Fail with one line naming ``airflow db migrate`` when the metadata DB is missing or unmigrated."""
    from sqlalchemy import inspect

    from lockit_provider.compat import metadata_engine

    try:
        with metadata_engine().connect() as connection:
            inspector = inspect(connection)
            missing = [table for table in REQUIRED_TABLES if not inspector.has_table(table)]
    except SQLAlchemyError as error:
        raise CliError(
            f"cannot open the Airflow metadata DB {_db_name()} ({type(error).__name__}): check "
            "[database] sql_alchemy_conn and AIRFLOW_HOME, then run `airflow db migrate`"
        ) from None
    if missing:
        raise CliError(
            f"the Airflow metadata DB {_db_name()} has no {missing[0]!r} table: run `airflow db migrate` "
            "first (it creates the tables on a new AIRFLOW_HOME and upgrades them after an Airflow upgrade)"
        )


def _reason(error: BaseException) -> str:
    """Return the one-line reason, naming the host, the verify error and ``ca_bundle`` for TLS failures."""
    if isinstance(error, CliError):
        return one_line(error)
    from lockit_provider.cli.tls import tls_failure, tls_message

    failure = tls_failure(error)
    if failure is None:
        return one_line(error)
    host, tls_error = failure
    return tls_message(host, tls_error, None, known=False)


def _db_name() -> str:
    """Return the metadata DB's URL without its password, e.g. ``sqlite:////home/airflow/airflow.db``."""
    try:
        from lockit_provider.compat import metadata_engine

        return metadata_engine().url.render_as_string(hide_password=True)
    except Exception:  # naming the DB is a courtesy; never hide the real failure behind this one
        return "(unknown URL)"
