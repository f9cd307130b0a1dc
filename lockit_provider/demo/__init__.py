"""The demo: the dailies job under a real Airflow against the sandbox (``python -m lockit_provider.demo``)."""
