"""Apache Airflow provider for the LockitNetwork API.

Every ``airflow`` command imports this module through the ``apache_airflow_provider`` entry point,
so it must stay free of Airflow and other heavy imports.
"""

from __future__ import annotations

from typing import Any

from lockit_provider.connection_extras import DEFAULT_REDIRECT_URI, conn_fields

__version__ = "0.1.0"

DEFAULT_API_URL = "https://api.lockitnetwork.com"
CONN_TYPE = "lockit"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's declarative metadata for Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-lockit",
        "name": "LockitNetwork",
        "description": "Call the LockitNetwork API (on-set script supervision) with OAuth 2.0 that never "
        "loses a rotated token.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "LockitNetwork",
                "external-doc-url": "https://api.lockitnetwork.com",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.hooks.lockit"]}],
        "operators": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.operators.lockit"]}
        ],
        "sensors": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.sensors.lockit"]}
        ],
        "triggers": [
            {"integration-name": "LockitNetwork", "python-modules": ["lockit_provider.triggers.lockit"]}
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "lockit_provider.hooks.lockit.LockitHook",
                "hook-name": "LockitNetwork",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "API base URL",
                        "login": "Client ID",
                        "password": "Client Secret",
                    },
                    "placeholders": {
                        "host": DEFAULT_API_URL,
                        "login": "the client id LockitNetwork registered for you",
                        "password": "the client secret",
                        "extra": f'{{"redirect_uri": "{DEFAULT_REDIRECT_URI}"}}',
                    },
                },
            }
        ],
        "cli": ["lockit_provider.cli.definition.get_lockit_cli_commands"],
        "config": {
            "lockit": {
                "description": "Options of the LockitNetwork provider.",
                "options": {
                    "triggerer_gc_freeze": {
                        "description": "In the triggerer's trigger runner, when the first LockitNetwork "
                        "trigger runs, move the objects alive then out of the garbage collector's "
                        "full passes (gc.freeze), so hundreds of polling sensors do not make the "
                        "collector hold the event loop for a fifth of a second at a time. Set to "
                        "False to leave the collector as Python sets it.\n",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    }
                },
            }
        },
    }
