"""A stream's text, one lane at a time: placeholders restored and the answer scanned as it flows.

A *lane* is one growing text of a stream: a choice's content, its reasoning, one tool
call's arguments, an Anthropic content block. Text passes through a lane chunk by
chunk; each lane holds back only what it must:

- ``RestoreLane`` holds back a tail that could still become a placeholder — from its
  last ``[`` while what follows is ``[A-Z0-9_]*`` and no longer than a placeholder can
  be (``vault.LONGEST``). Everything before it leaves at once with its placeholders
  replaced, so a chunk with no ``[`` in it is never delayed, and a placeholder split
  across any number of chunks comes out whole.
- ``OutputLane`` (the output guard) holds back the tail that could still grow into a
  value (the last word, and short groups of digits or capitals before it: a card, a
  phone number, an IBAN being written), at most ``holdback`` characters; what it lets
  go has been scanned and redacted (or the stream is ended: ``block``). A private key
  being written is dropped from its ``BEGIN`` line to its ``END`` line.

``Lane`` chains the two (output guard first: the model's own text is scanned, not the
values the client sent, which are restored after).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from switchyard.core.errors import OutputBlocked
from switchyard.guard.scanner import Scanner
from switchyard.guard.vault import LONGEST, Vault, redact_all

_PARTIAL = re.compile(r"\[[A-Z0-9_]*\Z")
#: The tail an answer's value may still be growing in: the last word, after short digit or capital groups.
_GROWING = re.compile(r"(?:[0-9A-Z+()]{1,6}[ .-])*\S*\Z")
_KEY_END = re.compile(r"-----END[A-Z ]{0,32} PRIVATE KEY(?: BLOCK)?-----")

#: Told ``(category, action)`` for each value the output guard found.
Report = Callable[[str, str], None]


class RestoreLane:
    __slots__ = ("vault", "json", "held")

    def __init__(self, vault: Vault, json: bool) -> None:
        self.vault = vault
        self.json = json
        self.held = ""

    def feed(self, text: str) -> str:
        if self.held:
            text = self.held + text
            self.held = ""
        at = text.rfind("[")
        if at >= 0 and len(text) - at <= LONGEST and _PARTIAL.match(text, at):
            self.held = text[at:]
            text = text[:at]
        return self.vault.restore_json(text) if self.json else self.vault.restore(text)

    def flush(self) -> str:
        text, self.held = self.held, ""
        return self.vault.restore_json(text) if self.json else self.vault.restore(text)


class OutputLane:
    __slots__ = ("scanner", "block", "holdback", "report", "pending", "in_key")

    def __init__(self, scanner: Scanner, block: bool, holdback: int, report: Report) -> None:
        self.scanner = scanner
        self.block = block
        self.holdback = holdback
        self.report = report
        self.pending = ""
        self.in_key = False

    def feed(self, text: str) -> str:
        pending = self.pending + text
        out = []
        if self.in_key:
            closing = _KEY_END.search(pending)
            if closing is None:
                self.pending = pending[-48:]  # an END line may be split across chunks
                return ""
            self.in_key = False
            pending = pending[closing.end():]
        growing = _GROWING.search(pending, max(0, len(pending) - self.holdback))
        cut = growing.start() if growing is not None else len(pending)
        if len(pending) - cut > self.holdback:
            cut = len(pending) - self.holdback
        findings = self.scanner.scan(pending)
        if findings and self.block:
            self._clean(pending, findings)  # raises: the stream ends here, the value never sent
        for start, end, _ in findings:
            if start < cut < end or end == len(pending):
                cut = min(cut, start)  # a value that may not be whole yet: hold all of it
        out.append(self._clean(pending[:cut], [f for f in findings if f[1] <= cut]))
        rest = pending[cut:]
        if len(rest) > self.holdback + LONGEST:  # a value longer than the holdback: redacted as it stands
            found = self.scanner.scan(rest)
            out.append(self._clean(rest, found))
            rest = ""
            if any(category == "private_key" for _, _, category in found):
                self.in_key = True
        self.pending = rest
        return "".join(out)

    def flush(self) -> str:
        pending, self.pending = self.pending, ""
        if self.in_key:
            return ""
        return self._clean(pending, self.scanner.scan(pending))

    def _clean(self, text: str, findings: list[tuple[int, int, str]]) -> str:
        if not findings:
            return text
        for _, _, category in findings:
            self.report(category, "block" if self.block else "redact")
        if self.block:
            raise withheld(findings[0][2])
        return redact_all(text, findings)


class Lane:
    """A lane's output guard (optional) then its restore (optional)."""

    __slots__ = ("output", "restore")

    def __init__(self, output: OutputLane | None, restore: RestoreLane | None) -> None:
        self.output = output
        self.restore = restore

    @property
    def holding(self) -> bool:
        return bool((self.output is not None and (self.output.pending or self.output.in_key))
                    or (self.restore is not None and self.restore.held))

    def feed(self, text: str) -> str:
        if self.output is not None:
            text = self.output.feed(text)
        if self.restore is not None:
            text = self.restore.feed(text)
        return text

    def flush(self) -> str:
        text = self.output.flush() if self.output is not None else ""
        if self.restore is not None:
            text = self.restore.feed(text) + self.restore.flush() if text else self.restore.flush()
        return text


def withheld(category: str) -> OutputBlocked:
    """The error for an answer that held a value of a blocked category (never the value)."""
    return OutputBlocked(f"The answer was withheld: it contained {_a(category)}, which the guard policy does not "
                         f"let through.")


def _a(category: str) -> str:
    name = category.replace("_", " ")
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"
