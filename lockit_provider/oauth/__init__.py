"""OAuth 2.0 client core for LockitNetwork: token records, the client, stores and the refresher.

This package imports no Airflow; ``lockit_provider.tokens`` and the hooks build on it.
"""
