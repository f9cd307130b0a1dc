"""The live token record, kept in one Airflow Variable per connection.

Tasks and triggers cannot write Connections but can write Variables (through the Task SDK); a plain
process or the CLI writes through the metadata DB instead. Variables are Fernet-encrypted at rest when
Airflow has a Fernet key, like Connections.
"""

from __future__ import annotations

from typing import Protocol

from lockit_provider.oauth.token import TokenRecord


class _VariableBackend(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class _TaskSdkVariables:
    """Variables through the supervisor (inside a task or a trigger)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        from lockit_provider.compat import invalidate_cached_variable

        # A cached value could be older than a sibling's refresh; the store must read through.
        invalidate_cached_variable(key)
        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value, description=_DESCRIPTION)


class _MetadataDbVariables:
    """Variables through the ORM (the CLI, a plain process with DB access)."""

    def get(self, key: str) -> str | None:
        from airflow.models.variable import Variable

        value = Variable.get(key, default_var=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow.models.variable import Variable

        Variable.set(key, value, description=_DESCRIPTION)


_DESCRIPTION = "LockitNetwork live OAuth token record (managed by airflow-provider-lockit; do not edit)"


def in_task_or_trigger() -> bool:
    """Tell whether this process talks to Airflow through a supervisor (task runner or triggerer)."""
    from lockit_provider.compat import has_supervisor_comms

    return has_supervisor_comms()


class VariableTokenStore:
    """A TokenStore on one Airflow Variable."""

    def __init__(self, key: str, backend: _VariableBackend | None = None) -> None:
        self.key = key
        self.name = f"Airflow Variable {key!r}"
        self._backend = backend

    def _variables(self) -> _VariableBackend:
        # Chosen per call: a hook built at parse time may be used later inside a task.
        if self._backend is not None:
            return self._backend
        return _TaskSdkVariables() if in_task_or_trigger() else _MetadataDbVariables()

    def load(self) -> TokenRecord | None:
        """Return the stored record, or None when the Variable does not exist yet."""
        raw = self._variables().get(self.key)
        return None if raw is None else TokenRecord.from_json(raw)

    def save(self, record: TokenRecord) -> None:
        """Write the record; raises whatever the Variable backend raises."""
        self._variables().set(self.key, record.to_json())
