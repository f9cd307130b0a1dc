"""Token leak scans: every token a sandbox issued, against every text a test saw."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def exception_chain(error: BaseException) -> list[BaseException]:
    """Return ``error`` and everything reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [link for link in (current.__cause__, current.__context__) if link is not None]
    return seen


def error_texts(error: BaseException) -> list[str]:
    """Return every text an error shows along its chain: str, repr, args and attributes."""
    texts: list[str] = []
    for link in exception_chain(error):
        texts += [str(link), repr(link), *(str(arg) for arg in link.args)]
        texts += [str(value) for value in vars(link).values()]
    return texts


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
        """Remember all an error shows, along its chain, for the scan; return its message."""
        self.texts += error_texts(err)
        return str(err)

    def check(self) -> None:
        """Fail if any token the test's sandboxes issued is in anything recorded."""
        found = leaked(self.texts, self._issued_tokens())
        assert not found, f"tokens (first characters shown) leaked into what the test saw: {found}"
