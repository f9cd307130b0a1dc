"""Token leak scans: every token a sandbox issued, against every text a test saw."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def leaked(texts: Iterable[str], tokens: Iterable[str]) -> list[str]:
    """Return the first characters of each token found in any text (safe to print)."""
    texts = list(texts)
    return [token[:6] for token in tokens if token and any(token in text for text in texts)]


def assert_no_token_in(texts: Iterable[str], issued_tokens: Iterable[str]) -> int:
    """Fail if any issued token occurs in any text; return how many texts were scanned."""
    texts, tokens = list(texts), [token for token in issued_tokens if token]
    assert tokens, "the sandbox issued no tokens: the scan would prove nothing"
    found = leaked(texts, tokens)
    assert not found, f"tokens (first characters shown) leaked into what the test saw: {found}"
    return len(texts)


class TokenLeakScan:
    """Collect what one test saw (errors, command output, logs); :meth:`check` scans it for tokens.

    The ``token_leaks`` fixture checks at teardown, against every sandbox the test started, so a scan
    never depends on what other tests ran before it.
    """

    def __init__(self, issued_tokens: Callable[[], Iterable[str]]) -> None:
        self.texts: list[str] = []
        self._issued_tokens = issued_tokens

    def record(self, text: str) -> str:
        """Remember ``text`` for the scan and return it."""
        self.texts.append(text)
        return text

    def error(self, err: BaseException) -> str:
        """Remember an error's message and repr for the scan; return the message."""
        self.record(repr(err))
        return self.record(str(err))

    def check(self) -> None:
        """Fail if any token the test's sandboxes issued is in anything recorded."""
        found = leaked(self.texts, self._issued_tokens())
        assert not found, f"tokens (first characters shown) leaked into what the test saw: {found}"
