"""A stream on its way back through the guard: each text lane restored (and scanned) as it flows.

``GuardedStream`` wraps the chunks the route stage opened. Per chunk it finds the text
of each lane — a choice's ``content``, ``reasoning_content``, ``refusal``, each tool
call's ``arguments`` (by the call's index), a legacy completion's ``text``; for an
Anthropic client served natively, each content block's text, thinking or tool-input
JSON — and passes it through that lane (``lanes.py``), which hands back what can leave
now. What a lane still holds leaves when its choice finishes (``finish_reason``), its
block stops (``content_block_stop``), or the stream ends (one more chunk).

Nothing is skipped or reordered: a chunk whose text a lane held entirely still goes
out (with an empty text), so the server's batching of chunks that arrived together
(``Chunk.more``) and the first chunk's timing are what they were. A chunk with no
``[`` while no lane holds anything passes as it came, bytes untouched — restoring
costs a stream nothing until a placeholder shows up (a ``[`` in the envelope before the
delta — ``"choices":[`` — does not count).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from switchyard.core.messages import Chunk
from switchyard.guard.lanes import Lane, OutputLane, RestoreLane
from switchyard.guard.scanner import Scanner
from switchyard.guard.vault import Vault

_FIELDS = ("content", "reasoning_content", "refusal")
_NATIVE_DELTAS = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}
_NATIVE_TYPES = {v: k for k, v in _NATIVE_DELTAS.items()}


class GuardedStream:
    """See the module docstring."""

    __slots__ = ("_chunks", "_vault", "_scanner", "_block", "_holdback", "_report", "_lanes", "_last", "_done")

    def __init__(self, chunks: AsyncIterator[Chunk], vault: Vault | None, scanner: Scanner | None = None,
                 block: bool = False, holdback: int = 256, report: Callable[[str, str], None] | None = None) -> None:
        self._chunks = chunks
        self._vault = vault if vault else None
        self._scanner = scanner
        self._block = block
        self._holdback = holdback
        self._report = report or (lambda category, action: None)
        self._lanes: dict[tuple[Any, ...], Lane] = {}
        self._last: dict[str, Any] | None = None
        self._done = False

    def __aiter__(self) -> GuardedStream:
        return self

    async def __anext__(self) -> Chunk:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            tail = self._tail()
            if tail is None:
                raise
            return tail
        if chunk.native is not None:
            return self._native(chunk)
        if chunk.data is None and chunk.raw is None:
            return chunk
        raw = chunk.raw
        if self._scanner is None and raw is not None and not _bracketed(raw) and not self._holding():
            return chunk
        data = chunk.json()
        if self._guard(data):
            chunk.raw = None
        self._last = data
        return chunk

    async def aclose(self) -> None:
        self._done = True
        await self._chunks.aclose()  # type: ignore[attr-defined]

    # -- lanes ----------------------------------------------------------------------------------
    def _holding(self) -> bool:
        return any(lane.holding for lane in self._lanes.values())

    def _lane(self, key: tuple[Any, ...], json: bool) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            output = (OutputLane(self._scanner, self._block, self._holdback, self._report)
                      if self._scanner is not None else None)
            restore = RestoreLane(self._vault, json) if self._vault is not None else None
            lane = self._lanes[key] = Lane(output, restore)
        return lane

    def _flush(self, choice: int) -> list[tuple[tuple[Any, ...], str]]:
        out = []
        for key, lane in self._lanes.items():
            if key[0] == choice and lane.holding:
                text = lane.flush()
                if text:
                    out.append((key, text))
        return out

    # -- OpenAI chunks ----------------------------------------------------------------------------
    def _guard(self, data: dict[str, Any]) -> bool:
        changed = False
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for field in _FIELDS:
                    text = delta.get(field)
                    if isinstance(text, str):
                        new = self._lane((index, field), False).feed(text)
                        if new != text:
                            delta[field] = new
                            changed = True
                for call in delta.get("tool_calls") or ():
                    function = call.get("function") if isinstance(call, dict) else None
                    text = function.get("arguments") if isinstance(function, dict) else None
                    if isinstance(text, str):
                        new = self._lane((index, "tool", call.get("index", 0)), True).feed(text)
                        if new != text:
                            function["arguments"] = new  # type: ignore[index]
                            changed = True
            elif isinstance(choice.get("text"), str):
                text = choice["text"]
                new = self._lane((index, "text"), False).feed(text)
                if new != text:
                    choice["text"] = new
                    changed = True
            if choice.get("finish_reason") is not None:
                for key, text in self._flush(index):
                    _put(choice, key, text)
                    changed = True
        return changed

    def _tail(self) -> Chunk | None:
        """What lanes still hold when the stream ends, as one more chunk (None: nothing)."""
        held = [(key, lane.flush()) for key, lane in self._lanes.items() if lane.holding]
        held = [(key, text) for key, text in held if text]
        if not held:
            return None
        if self._last is None or "choices" not in self._last:  # a native stream: its blocks stopped already
            return None
        last = self._last
        completion = last.get("object") == "text_completion"
        choices: dict[Any, dict[str, Any]] = {}
        for key, text in held:
            choice = choices.setdefault(key[0], {"index": key[0]} if completion else {"index": key[0], "delta": {}})
            _put(choice, key, text)
        data = {"id": last.get("id"), "object": last.get("object", "chat.completion.chunk"),
                "created": last.get("created"), "model": last.get("model"), "choices": list(choices.values())}
        return Chunk(data=data)

    # -- Anthropic frames -------------------------------------------------------------------------
    def _native(self, chunk: Chunk) -> Chunk:
        frame = chunk.native or b""
        if self._scanner is None and frame.find(b"[") < 0 and not self._holding():
            return chunk
        name, data = _parse(frame)
        if not isinstance(data, dict):
            return chunk
        kind = data.get("type")
        before: list[bytes] = []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            field = _NATIVE_DELTAS.get(str(delta.get("type")))
            if field is not None and isinstance(delta.get(field), str):
                text = delta[field]
                new = self._lane((data.get("index", 0), field), field == "partial_json").feed(text)
                if new == text:
                    return chunk
                delta[field] = new
        elif kind == "content_block_stop":
            for key, text in self._flush(data.get("index", 0)):
                before.append(_frame("content_block_delta", {
                    "type": "content_block_delta", "index": key[0],
                    "delta": {"type": _NATIVE_TYPES[key[1]], key[1]: text}}))
            if not before:
                return chunk
            chunk.native = b"".join(before) + frame
            return chunk
        else:
            return chunk
        chunk.native = _frame(name, data)
        return chunk


def _bracketed(raw: bytes) -> bool:
    """Whether an OpenAI chunk's bytes have a ``[`` where text is (its delta, or a completion's
    ``text``): the envelope's own arrays (``"choices":[``) come before."""
    at = raw.find(b'"delta"')
    if at < 0:
        at = raw.find(b'"text"')
    return at >= 0 and raw.find(b"[", at) >= 0


def _put(choice: dict[str, Any], key: tuple[Any, ...], text: str) -> None:
    """Append ``text`` to the lane ``key``'s field of ``choice`` (created when absent)."""
    if key[1] == "text":
        choice["text"] = (choice.get("text") or "") + text
        return
    delta = choice.setdefault("delta", {})
    if key[1] == "tool":
        calls = delta.setdefault("tool_calls", [])
        for call in calls:
            if call.get("index", 0) == key[2]:
                function = call.setdefault("function", {})
                function["arguments"] = (function.get("arguments") or "") + text
                return
        calls.append({"index": key[2], "function": {"arguments": text}})
        return
    delta[key[1]] = (delta.get(key[1]) or "") + text


def _parse(frame: bytes) -> tuple[str, Any]:
    name = "message"
    lines = []
    for line in frame.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            lines.append(line[5:].lstrip(b" "))
    try:
        return name, orjson.loads(b"\n".join(lines))
    except orjson.JSONDecodeError:
        return name, None


def _frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
