"""Detectors from the config: a regex, or a deny-list of terms (``guard.detectors``).

Each is named (``employee_id``, ``codenames``); the name is its category — in policies,
placeholders (``[EMPLOYEE_ID_1]``), errors, metrics and the audit log.

A regex runs over the text as written (a named group ``value`` narrows the finding to
that group). It is the config author's pattern: one that starts with a literal is
scanned in C at memory speed; one that starts with a class is tried at every position
(about 1.5 ms per 100 KB, see ``patterns.py``).

A deny-list finds its terms as whole words, case-insensitively by default. Up to 32
ASCII terms are each found with ``bytes.find`` on the lower-cased bytes; longer lists
are one alternation, longest term first; terms beyond ASCII are matched by a regex
over the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

#: Past this many ASCII terms, one alternation instead of a search per term.
FIND_EACH = 32


class RegexDetector:
    """A regex over the text (see the module docstring)."""

    __slots__ = ("name", "pattern", "_group")

    def __init__(self, name: str, pattern: str, *, ignore_case: bool = False) -> None:
        self.name = name
        self.pattern = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        self._group = "value" if "value" in self.pattern.groupindex else 0

    def find(self, text: str, raw: bytes, lowered: bytes) -> Iterable[tuple[int, int]]:
        group = self._group
        for match in self.pattern.finditer(text):
            start, end = match.span(group)
            if end > start:
                yield start, end


class DenyList:
    """Terms that must not leave, as whole words (see the module docstring)."""

    __slots__ = ("name", "ignore_case", "_each", "_together", "_wide")

    def __init__(self, name: str, terms: Sequence[str], *, ignore_case: bool = True) -> None:
        self.name = name
        self.ignore_case = ignore_case
        ascii_terms = sorted({t.lower() if ignore_case else t for t in terms if t.isascii() and t}, key=len,
                             reverse=True)
        wide = [t for t in terms if t and not t.isascii()]
        encoded = [t.encode() for t in ascii_terms]
        self._each: tuple[bytes, ...] = tuple(encoded) if len(encoded) <= FIND_EACH else ()
        self._together = (re.compile(b"|".join(re.escape(t) for t in encoded))
                          if len(encoded) > FIND_EACH else None)
        self._wide = (re.compile("|".join(re.escape(t) for t in sorted(wide, key=len, reverse=True)),
                                 re.IGNORECASE if ignore_case else 0) if wide else None)

    def find(self, text: str, raw: bytes, lowered: bytes) -> Iterable[tuple[int, int]]:
        haystack = lowered if self.ignore_case else raw
        for term in self._each:
            at = haystack.find(term)
            while at >= 0:
                end = at + len(term)
                if _whole(text, at, end):
                    yield at, end
                at = haystack.find(term, end)
        if self._together is not None:
            for match in self._together.finditer(haystack):
                if _whole(text, *match.span()):
                    yield match.span()
        if self._wide is not None:
            for wide in self._wide.finditer(text):
                if _whole(text, *wide.span()):
                    yield wide.span()


def _whole(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is not part of a longer word."""
    return not ((start and _word(text[start - 1])) or (end < len(text) and _word(text[end])))


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"
