"""A chat completion stream as the Responses API's event sequence.

OpenAI's order, each event numbered by ``sequence_number`` from 0::

    response.created, response.in_progress
    per output item, in order:
      reasoning: response.output_item.added, response.output_item.done (its summary whole)
      text:      response.output_item.added, response.content_part.added,
                 response.output_text.delta ..., response.output_text.done,
                 response.content_part.done, response.output_item.done
      tool call: response.output_item.added, response.function_call_arguments.delta ...,
                 response.function_call_arguments.done, response.output_item.done
    response.completed (or response.incomplete) with the whole response and its usage;
    a stream that broke ends with ``error`` and ``response.failed`` instead

``ResponseEvents.feed(chunk)`` takes one OpenAI ``chat.completion.chunk`` and
returns the events it makes; ``finish(usage)`` closes what is open and returns
the last ones (its ``response`` is then the finished object, for storing).
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.core.messages import Usage
from switchyard.responses.answer import call_item, finish, message_item, reasoning_item, sealed_blocks, text_part
from switchyard.responses.request import new_id


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame, with its ``event:`` line as OpenAI sends it."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponseEvents:
    """The event sequence of one streamed response (see the module docstring)."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.finish_reason: str | None = None
        self._text: dict[str, Any] | None = None  # the open message item
        self._calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> its open item
        self._open_call: dict[str, Any] | None = None
        self._reasoning: dict[str, Any] | None = None  # the open reasoning item
        self._thought: list[str] = []
        self._blocks: list[dict[str, Any]] = []

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def start(self) -> list[dict[str, Any]]:
        snapshot = dict(self.response)
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=snapshot)]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content") or delta.get("thinking_blocks"):
                events.extend(self._reasoning_delta(delta.get("reasoning_content") or "",
                                                    delta.get("thinking_blocks") or ()))
            text = delta.get("content")
            if text:
                events.extend(self._text_delta(text))
            for call in delta.get("tool_calls") or ():
                events.extend(self._call_delta(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    def _reasoning_delta(self, text: str, blocks: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._reasoning is None:
            events.extend(self._close_text() + self._close_call())
            item = self._reasoning = reasoning_item(new_id("rs"), "", None, status="in_progress")
            self.output.append(item)
            events.append(self._event("response.output_item.added", output_index=self._index(item), item=dict(item)))
        self._thought.append(text)
        self._blocks.extend(blocks)
        return events

    def _close_reasoning(self) -> list[dict[str, Any]]:
        """The reasoning item whole, once the model moved on (its thinking is one summary)."""
        item, self._reasoning = self._reasoning, None
        if item is None:
            return []
        text, blocks = "".join(self._thought), self._blocks
        self._thought, self._blocks = [], []
        item.update(status="completed", summary=[{"type": "summary_text", "text": text}] if text else [],
                    encrypted_content=sealed_blocks(blocks) if blocks else None)
        return [self._event("response.output_item.done", output_index=self._index(item), item=item)]

    def _text_delta(self, text: str) -> list[dict[str, Any]]:
        events = self._close_reasoning() + self._close_call()
        item = self._text
        if item is None:
            item = self._text = message_item(new_id("msg"), [], status="in_progress")
            index = len(self.output)
            self.output.append(item)
            events.append(self._event("response.output_item.added", output_index=index,
                                      item={**item, "content": []}))
            events.append(self._event("response.content_part.added", item_id=item["id"], output_index=index,
                                      content_index=0, part=text_part("")))
            item["content"].append(text_part(""))
        item["content"][0]["text"] += text
        events.append(self._event("response.output_text.delta", item_id=item["id"], output_index=self._index(item),
                                  content_index=0, delta=text, logprobs=[]))
        return events

    def _call_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = call.get("index", 0)
        function = call.get("function") or {}
        item = self._calls.get(position)
        if item is None:
            events.extend(self._close_reasoning())
            events.extend(self._close_text())
            events.extend(self._close_call())
            item = call_item(new_id("fc"), call.get("id") or new_id("call"), function.get("name") or "", "",
                             status="in_progress")
            self._calls[position] = self._open_call = item
            self.output.append(item)
            events.append(self._event("response.output_item.added", output_index=self._index(item), item=dict(item)))
        arguments = function.get("arguments")
        if arguments:
            item["arguments"] += arguments
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                      output_index=self._index(item), delta=arguments))
        return events

    def _index(self, item: dict[str, Any]) -> int:
        return next(i for i, candidate in enumerate(self.output) if candidate is item)

    def _close_text(self) -> list[dict[str, Any]]:
        item, self._text = self._text, None
        if item is None:
            return []
        index, part = self._index(item), item["content"][0]
        item["status"] = "completed"
        return [
            self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                        text=part["text"], logprobs=[]),
            self._event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                        part=part),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _close_call(self) -> list[dict[str, Any]]:
        item, self._open_call = self._open_call, None
        if item is None:
            return []
        index = self._index(item)
        item["status"] = "completed"
        return [
            self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                        name=item["name"], arguments=item["arguments"]),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def finish(self, usage: Usage | None) -> list[dict[str, Any]]:
        """Close what is open; the last event carries the finished response."""
        events = self._close_reasoning() + self._close_text() + self._close_call()
        finish(self.response, self.output, self.finish_reason, usage)
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        events.append(self._event(kind, response=self.response))
        return events

    def fail(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The last events of a stream that broke (``body``: OpenAI's error object): ``error``,
        then ``response.failed`` with the output so far."""
        code, message = body.get("code"), body.get("message")
        self.response.update(status="failed", output=self.output, error={"code": code, "message": message})
        return [self._event("error", code=code, message=message, param=body.get("param")),
                self._event("response.failed", response=self.response)]
