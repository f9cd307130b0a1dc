"""Request counters that tests read through ``GET /_sandbox/stats``."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Thread-safe counters of token and API requests; ``reset`` zeroes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._token_requests: Counter[str] = Counter()
            self._api_requests: Counter[str] = Counter()
            self._errors: Counter[str] = Counter()
            self._query_token_requests = 0

    def count_token_request(self, grant_type: str) -> None:
        """Count a request that reached the token endpoint, by its ``grant_type``."""
        with self._lock:
            self._token_requests[grant_type] += 1

    def count_token_error(self, error: str) -> None:
        """Count an OAuth error the token endpoint answered with (e.g. ``invalid_grant``)."""
        with self._lock:
            self._errors[error] += 1

    def count_api_response(self, status: str) -> None:
        """Count an API response by status (``"dropped"`` for a dropped connection)."""
        with self._lock:
            self._api_requests[status] += 1

    def count_query_token(self) -> None:
        """Count an API request that carried its token in the query string."""
        with self._lock:
            self._query_token_requests += 1

    def snapshot(self) -> dict[str, object]:
        """Return the counters as JSON-ready values."""
        with self._lock:
            return {
                "token_requests": dict(self._token_requests),
                "invalid_grant": self._errors["invalid_grant"],
                "invalid_client": self._errors["invalid_client"],
                "token_errors": dict(self._errors),
                "api_requests": dict(self._api_requests),
                "query_token_requests": self._query_token_requests,
            }
