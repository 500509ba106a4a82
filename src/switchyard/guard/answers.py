"""A whole (unary) answer on its way back: the output guard, then the masked values restored.

The answer's texts — each choice's content (or text parts), reasoning and refusal,
its tool calls' arguments (JSON: values are restored escaped), a legacy completion's
``text``; for an Anthropic client served natively, its message's text, thinking and
tool-use input — are scanned by the output guard (redacted, or the answer refused)
and then get their placeholders replaced by the request's values. An answer nothing
changed keeps its upstream bytes; one that changed is a new answer, the upstream's never
written in place (the response cache may hand one answer to several identical requests, each
with its own values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from switchyard.core.messages import ChatResponse
from switchyard.guard.lanes import withheld
from switchyard.guard.scanner import Scanner
from switchyard.guard.vault import Vault, redact_all

#: ``(container, key, json)``: where a text of an answer is.
Slot = tuple[Any, Any, bool]


def openai_slots(body: dict[str, Any]) -> Iterator[Slot]:
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            yield choice, "text", False
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        for field in ("content", "reasoning_content", "refusal"):
            value = message.get(field)
            if isinstance(value, str):
                yield message, field, False
            elif field == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part, "text", False
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield function, "arguments", True
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
            yield legacy, "arguments", True


def anthropic_slots(message: dict[str, Any]) -> Iterator[Slot]:
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        for field in ("text", "thinking"):
            if isinstance(block.get(field), str):
                yield block, field, False
        if block.get("type") == "tool_use":
            yield from _values(block, "input")


def _values(container: Any, key: Any) -> Iterator[Slot]:
    node = container[key]
    if isinstance(node, str):
        yield container, key, False
    elif isinstance(node, dict):
        for inner in list(node):
            yield from _values(node, inner)
    elif isinstance(node, list):
        for index in range(len(node)):
            yield from _values(node, index)


class Answer:
    """Guards the texts of one answer (see the module docstring)."""

    __slots__ = ("vault", "scanner", "block", "report")

    def __init__(self, vault: Vault | None, scanner: Scanner | None, block: bool,
                 report: Callable[[str, str], None]) -> None:
        self.vault = vault
        self.scanner = scanner
        self.block = block
        self.report = report

    def guarded(self, slots: Iterator[Slot]) -> list[str] | None:
        """Each slot's text guarded, in order; None when none changed. Nothing is written: an
        answer may be shared (an identical request's, coalesced by the cache)."""
        out = []
        changed = False
        for container, key, json in slots:
            text = container[key]
            new = self.text(text, json)
            changed = changed or new != text
            out.append(new)
        return out if changed else None

    def text(self, text: str, json: bool) -> str:
        if self.scanner is not None:
            findings = self.scanner.scan(text)
            if findings:
                for _, _, category in findings:
                    self.report(category, "block" if self.block else "redact")
                if self.block:
                    raise withheld(findings[0][2])
                text = redact_all(text, findings)
        if self.vault is not None:
            text = self.vault.restore_json(text) if json else self.vault.restore(text)
        return text

    def response(self, answer: Any) -> Any:
        """A ``ChatResponse`` guarded, as a new one when anything changed (never written in place:
        the cache may hand one answer to several requests): its Anthropic bytes when it was
        served natively (what that client gets), else its OpenAI body."""
        native = getattr(answer, "native", None)
        if native is not None:
            message = orjson.loads(native)  # a fresh object of our own
            texts = self.guarded(anthropic_slots(message)) if isinstance(message, dict) else None
            if texts is None:
                return answer
            _write(anthropic_slots(message), texts)
            return ChatResponse(body=answer.body, usage=answer.usage, headers=answer.headers,
                                native=orjson.dumps(message))
        body = answer.body
        if not body and answer.raw is not None:
            body = orjson.loads(answer.raw)
        texts = self.guarded(openai_slots(body)) if isinstance(body, dict) else None
        if texts is None:
            return answer
        fresh = orjson.loads(answer.raw) if answer.raw is not None else orjson.loads(orjson.dumps(body))
        _write(openai_slots(fresh), texts)
        return ChatResponse(body=fresh, usage=answer.usage, headers=answer.headers)


def _write(slots: Iterator[Slot], texts: list[str]) -> None:
    for (container, key, _), text in zip(list(slots), texts):
        container[key] = text
