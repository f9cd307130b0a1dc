"""The ``airflow lockit`` command group."""
