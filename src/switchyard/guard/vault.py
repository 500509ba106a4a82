"""One request's masked values: placeholders out, originals back.

``mask`` gives each distinct value a placeholder ``[<CATEGORY>_<n>]`` (``[EMAIL_1]``,
``[CREDIT_CARD_2]``); the same value gets the same placeholder wherever it appears
in the request (the chat body and an Anthropic client's own body alike), so the model
sees a consistent conversation. ``restore`` puts the originals back wherever a known
placeholder appears in the answer; ``restore_json`` escapes them for the inside of a
JSON string (tool-call arguments). A placeholder the request never issued stays as it is.

A ``Vault`` belongs to one request and is dropped with it: nothing else holds it, so
two requests never see each other's values. It holds at most ``MAX_VALUES`` values;
past that, values are redacted (one way) instead. Placeholder-shaped text the client
itself sent is never issued again (``reserve``), so it cannot be mistaken for one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

#: A placeholder: ``[`` CATEGORY ``_`` number ``]``.
PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]{0,39}_[0-9]{1,6}\]")
#: The longest a placeholder can be: what a stream may have to hold back.
LONGEST = 48
#: Values one request may mask; past this they are redacted.
MAX_VALUES = 10_000


def label(category: str) -> str:
    """A category as it appears in placeholders: upper case, letters, digits and ``_`` only."""
    name = category.upper()
    if name.isascii() and name.replace("_", "").isalnum() and len(name) <= 40:
        return name
    return re.sub(r"[^A-Z0-9_]", "_", name)[:40] or "VALUE"


def redacted(category: str) -> str:
    """The one-way replacement of a value of ``category``."""
    return f"[REDACTED_{label(category)}]"


def redact_all(text: str, findings: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each finding (sorted, not overlapping) replaced for good by ``redacted``."""
    pieces = []
    at = 0
    for start, end, category in findings:
        pieces.append(text[at:start])
        pieces.append(redacted(category))
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def a_category(category: str) -> str:
    """A category in a sentence: ``an email``, ``a credit card``."""
    name = category.replace("_", " ")
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


class Vault:
    """See the module docstring."""

    __slots__ = ("_tokens", "_values", "_counts", "_reserved")

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}  # value -> placeholder
        self._values: dict[str, str] = {}  # placeholder -> value
        self._counts: dict[str, int] = {}
        self._reserved: set[str] = set()

    def __len__(self) -> int:
        return len(self._values)

    def reserve(self, text: str) -> None:
        """Never issue a placeholder that ``text`` (the client's own) already contains."""
        if "[" in text:
            self._reserved.update(PLACEHOLDER.findall(text))

    def mask(self, category: str, value: str) -> str:
        """The placeholder of ``value`` (issued now if new); a redaction past ``MAX_VALUES``."""
        token = self._tokens.get(value)
        if token is not None:
            return token
        if len(self._values) >= MAX_VALUES:
            return redacted(category)
        name = label(category)
        n = self._counts.get(name, 0)
        while True:
            n += 1
            token = f"[{name}_{n}]"
            if token not in self._reserved:
                break
        self._counts[name] = n
        self._tokens[value] = token
        self._values[token] = value
        return token

    def restore(self, text: str) -> str:
        """``text`` with every placeholder this vault issued replaced by its value."""
        if "[" not in text or not self._values:
            return text
        values = self._values
        return PLACEHOLDER.sub(lambda m: values.get(m.group(), m.group()), text)

    def restore_json(self, text: str) -> str:
        """As ``restore``, each value escaped for the inside of a JSON string (tool-call arguments)."""
        if "[" not in text or not self._values:
            return text
        values = self._values
        return PLACEHOLDER.sub(lambda m: _escaped(values[m.group()]) if m.group() in values else m.group(), text)


def _escaped(value: str) -> str:
    return orjson.dumps(value).decode()[1:-1]
