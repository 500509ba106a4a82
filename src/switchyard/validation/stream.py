"""A stream's answer gathered as its chunks pass, for checking at its end.

Each chunk's deltas are added per choice: content pieces, tool calls by their
``index`` (name, argument pieces), a refusal. At most ``max_bytes`` of content
and arguments are held; past that the stream ends with ``InvalidAnswer``
(kind ``too_large``): an answer the gateway cannot check is never passed as checked.
At the end the gathered answer is checked as a unary one would be; an invalid one
ends the stream with ``InvalidAnswer`` as its last event, after the chunks the
client already has (they cannot be taken back, and no ``[DONE]`` follows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from switchyard.core.errors import InvalidAnswer
from switchyard.core.messages import Chunk
from switchyard.validation.expectation import Expectation, Problem


class Gathered:
    """The choices of a stream so far (see the module docstring)."""

    __slots__ = ("max_bytes", "size", "choices")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        #: index -> {"content": [str], "refusal": bool, "calls": {index: [name, [argument pieces]]}, "finish": str}
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, data: dict[str, Any]) -> bool:
        """Adds one chunk's deltas; False once more than ``max_bytes`` are held."""
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            held = self.choices.get(choice.get("index", 0))
            if held is None:
                held = self.choices[choice.get("index", 0)] = {"content": [], "refusal": False, "calls": {}}
            if choice.get("finish_reason"):
                held["finish"] = choice["finish_reason"]
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            content = delta.get("content")
            if isinstance(content, str) and content:
                held["content"].append(content)
                self.size += len(content)
            if delta.get("refusal"):
                held["refusal"] = True
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict):
                    continue
                slot = held["calls"].setdefault(call.get("index", 0), [None, []])
                if function.get("name"):
                    slot[0] = function["name"]
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    slot[1].append(arguments)
                    self.size += len(arguments)
        return self.size <= self.max_bytes

    def body(self) -> dict[str, Any]:
        """The answer gathered, shaped as a unary ``chat.completion``'s choices."""
        choices = []
        for index, held in sorted(self.choices.items()):
            message: dict[str, Any] = {"role": "assistant"}
            if held["refusal"]:
                message["refusal"] = True
            if held["content"]:
                message["content"] = "".join(held["content"])
            if held["calls"]:
                message["tool_calls"] = [{"type": "function", "function": {"name": name, "arguments": "".join(parts)}}
                                         for _, (name, parts) in sorted(held["calls"].items())]
            choices.append({"index": index, "message": message, "finish_reason": held.get("finish")})
        return {"choices": choices}


class CheckedStream:
    """``chunks`` passed through, gathered, and checked at their end against ``expectation``;
    ``invalid(problem)`` is told of an invalid answer and returns the error that ends the stream."""

    __slots__ = ("_chunks", "_expectation", "_gathered", "_invalid", "_valid", "_checked")

    def __init__(self, chunks: AsyncIterator[Chunk], expectation: Expectation, max_bytes: int,
                 invalid: Callable[[Problem], InvalidAnswer], valid: Callable[[], None]) -> None:
        self._chunks = chunks
        self._expectation = expectation
        self._gathered = Gathered(max_bytes)
        self._invalid = invalid
        self._valid = valid
        self._checked = False

    def __aiter__(self) -> CheckedStream:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            if not self._checked:
                self._checked = True
                problem = self._expectation.problem(self._gathered.body())
                if problem is not None:
                    raise self._invalid(problem) from None
                self._valid()
            raise
        if (chunk.data is not None or chunk.raw is not None) and not self._gathered.add(chunk.json()):
            self._checked = True
            await self.aclose()
            raise self._invalid(Problem("too_large", f"the answer passed validation.max_bytes "
                                                     f"({self._gathered.max_bytes}) before its end"))
        return chunk

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()
