"""An Anthropic client in front of the gateway: its Messages API to and from our OpenAI shape.

Pure functions and one stream state machine, no I/O (the tables shared with
``upstream`` are in ``messages``):

- ``to_chat_body``: an Anthropic ``/v1/messages`` request -> an OpenAI chat body
  (``system`` -> a system message; ``tool_result`` blocks -> ``tool`` messages
  placed before the rest of their user turn; ``tool_use`` -> ``tool_calls``;
  images and base64 PDFs -> ``image_url`` / ``file`` parts; ``tool_choice``
  any/tool/none/auto; ``output_config.format`` -> ``response_format``;
  ``cache_control`` marks stay on the parts, messages and tools they mark;
  ``thinking`` -> ``reasoning_effort`` (``providers.reasoning``); an assistant
  turn's thinking blocks -> its ``thinking_blocks``, signatures kept). Anything
  else OpenAI cannot express is a 400 naming the field.
- ``to_message``: an OpenAI ``chat.completion`` -> an Anthropic ``message``
  (``thinking_blocks``, else ``reasoning_content``, -> thinking blocks first).
- ``MessageStream``: OpenAI chunks -> the Anthropic SSE event sequence
  (``message_start``, ``ping``, ``content_block_*`` per thinking, text or tool
  block, ``message_delta`` with the stop reason, usage and the answer's ``cost_usd``,
  ``message_stop``).
- ``error_body``: any core error -> Anthropic's error body.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import Usage
from switchyard.providers.anthropic_format.messages import (
    TOOL_CHOICES,
    error_type_of,
    invalid,
    joined_text,
    source_to_url,
    stop_reason,
    thinking_block,
    tool_call,
    tool_input,
    usage_from_core,
)
from switchyard.providers.reasoning import effort_for, requested_budget


def _marked(part: dict[str, Any], block: dict[str, Any]) -> dict[str, Any]:
    """``part`` with the ``cache_control`` mark ``block`` carries, if any."""
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _parts(content: Any, param: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """User content -> ``(tool messages, OpenAI content parts)``."""
    if isinstance(content, str):
        return [], [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid("content must be a string or a list of content blocks", param)
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{param}.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(_marked({"type": "text", "text": block.get("text", "")}, block))
        elif kind == "image":
            url = source_to_url(block.get("source") or {}, where)
            parts.append(_marked({"type": "image_url", "image_url": {"url": url}}, block))
        elif kind == "document":
            source = block.get("source") or {}
            if source.get("type") == "text":
                parts.append(_marked({"type": "text", "text": source.get("data", "")}, block))
            else:
                parts.append(_marked({"type": "file", "file": {"file_data": source_to_url(source, where)}}, block))
        elif kind == "tool_result":
            text = joined_text(block.get("content"), "")
            if block.get("is_error"):
                text = f"Error: {text}"
            tools.append(_marked({"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": text}, block))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise invalid(f"Content block type {kind!r} can only be sent to Anthropic models", f"{where}.type")
    return tools, parts


def _assistant(content: Any, param: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    marked_call = None
    for i, block in enumerate(content or ()):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_marked({"type": "text", "text": block.get("text", "")}, block))
        elif kind == "tool_use":
            calls.append(tool_call(block))
            marked_call = block.get("cache_control", marked_call)
        elif (entry := thinking_block(block)) is not None:
            thinking.append(entry)
        else:
            raise invalid(f"Content block type {kind!r} can only be sent to Anthropic models", f"{param}.{i}.type")
    marked = any("cache_control" in t for t in texts)
    message: dict[str, Any] = {"role": "assistant",
                               "content": texts if marked else "".join(t["text"] for t in texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if marked_call is not None:
        message["cache_control"] = marked_call  # a message's mark lands on its last block, the tool call
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _system(system: Any) -> dict[str, Any]:
    """Anthropic ``system`` -> one system message; text parts when blocks carry cache marks."""
    if isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") is not None for b in system):
        parts = [_marked({"type": "text", "text": b.get("text", "")}, b)
                 for b in system if isinstance(b, dict) and b.get("type") == "text"]
        return {"role": "system", "content": parts}
    return {"role": "system", "content": joined_text(system)}


def _tool(tool: Any, param: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or "input_schema" not in tool:
        raise invalid("Only custom tools (name, input_schema) can be sent to any model", param)
    function = {"name": tool.get("name", ""), "parameters": tool["input_schema"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    return _marked({"type": "function", "function": function}, tool)


def _reasoning_effort(body: dict[str, Any]) -> str | None:
    """Anthropic ``thinking`` (its budget, or adaptive with ``output_config.effort``) -> OpenAI ``reasoning_effort``."""
    budget = requested_budget({}, ("anthropic", body)) if body.get("thinking") is not None else None
    return None if not budget else effort_for(budget)


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """Anthropic ``tool_choice`` -> ``(OpenAI tool_choice, parallel allowed)``."""
    if not isinstance(choice, dict):
        raise invalid("tool_choice must be an object", "tool_choice")
    kind = choice.get("type")
    parallel = not choice.get("disable_parallel_tool_use")
    if isinstance(kind, str) and kind in TOOL_CHOICES:
        return TOOL_CHOICES[kind], parallel
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise invalid("tool_choice.type must be auto, any, tool or none", "tool_choice.type")


def to_chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request -> an OpenAI chat body (``validate_chat`` it next)."""
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise invalid(f"{name}: Field required", name)
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        raise invalid("max_tokens: must be a positive integer", "max_tokens")
    if not isinstance(body["messages"], list):
        raise invalid("messages: must be a list", "messages")
    out_messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        out_messages.append(_system(system))
    for i, message in enumerate(body["messages"]):
        param = f"messages.{i}"
        role = message.get("role") if isinstance(message, dict) else None
        if role == "user":
            tools, parts = _parts(message.get("content"), f"{param}.content")
            out_messages.extend(tools)
            if parts:
                plain = len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]
                content: Any = parts[0]["text"] if plain else parts
                out_messages.append({"role": "user", "content": content})
        elif role == "assistant":
            out_messages.append(_assistant(message.get("content"), f"{param}.content"))
        else:
            raise invalid(f"{param}.role: must be 'user' or 'assistant'", f"{param}.role")
    chat: dict[str, Any] = {"model": body["model"], "messages": out_messages, "max_tokens": body["max_tokens"]}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id:
        chat["user"] = str(user_id)
    given = body.get("tools")
    if given:
        chat["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(given)]
    effort = _reasoning_effort(body)
    if effort is not None:
        chat["reasoning_effort"] = effort
    if body.get("tool_choice") is not None:
        choice, parallel = _tool_choice(body["tool_choice"])
        chat["tool_choice"] = choice
        if not parallel and given:
            chat["parallel_tool_calls"] = False
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.get("schema") or {}}}
    return chat


def _input(arguments: Any) -> Any:
    try:
        return tool_input(arguments)
    except ValueError:
        return {"_raw_arguments": arguments}


def new_message_id() -> str:
    return "msg_" + os.urandom(12).hex()


def _thinking_of(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """An OpenAI answer's reasoning as Anthropic thinking blocks: its ``thinking_blocks``
    (signed, from a Claude upstream), else its ``reasoning_content`` unsigned."""
    blocks = [b for b in (thinking_block(b) for b in reply.get("thinking_blocks") or () if isinstance(b, dict)) if b]
    if blocks:
        return blocks
    text = reply.get("reasoning_content")
    return [{"type": "thinking", "thinking": text, "signature": ""}] if isinstance(text, str) and text else []


def to_message(completion: dict[str, Any], model: str, usage: Usage | None) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` -> an Anthropic ``message`` answering for ``model``."""
    choice = (completion.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    content = _thinking_of(reply)
    if reply.get("content"):
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""),
                        "input": _input(function.get("arguments", ""))})
    stop = stop_reason(choice.get("finish_reason"))
    if usage is None:
        usage = Usage.from_openai(completion.get("usage"))
    return {"id": new_message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": usage_from_core(usage)}


def event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE frame with its ``event:`` line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageStream:
    """OpenAI chunks in, Anthropic SSE frames out; call ``feed`` per chunk, then ``finish``.

    ``reasoning_content`` deltas stream as a ``thinking`` block (``thinking_delta``);
    a whole block in ``thinking_blocks`` gives that block its ``signature_delta`` and
    closes it (a ``redacted_thinking`` block opens and closes at once)."""

    __slots__ = ("model", "_started", "_block", "_kind", "_tools", "_stop", "_usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self._started = False
        self._block = -1  # index of the open content block, -1 when none
        self._kind: str | None = None
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._stop: str | None = None
        self._usage: Usage | None = None

    def start(self) -> list[bytes]:
        self._started = True
        message: dict[str, Any] = {"id": new_message_id(), "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [event("message_start", {"type": "message_start", "message": message}), event("ping", {"type": "ping"})]

    def _open(self, block: dict[str, Any], out: list[bytes]) -> None:
        self._close(out)
        self._block += 1
        self._kind = block["type"]
        out.append(event("content_block_start", {"type": "content_block_start", "index": self._block, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._kind is not None:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self._block}))
            self._kind = None

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": self._block, "delta": delta}))

    def _thinking(self, delta: dict[str, Any], out: list[bytes]) -> None:
        reasoning = delta.get("reasoning_content")
        if reasoning:
            if self._kind != "thinking":
                self._open({"type": "thinking", "thinking": "", "signature": ""}, out)
            self._delta({"type": "thinking_delta", "thinking": reasoning}, out)
        for block in delta.get("thinking_blocks") or ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking":
                if self._kind != "thinking":  # a whole block nobody streamed: its text first
                    self._open({"type": "thinking", "thinking": "", "signature": ""}, out)
                    self._delta({"type": "thinking_delta", "thinking": block.get("thinking", "")}, out)
                self._delta({"type": "signature_delta", "signature": block.get("signature", "")}, out)
                self._close(out)
            elif kind == "redacted_thinking":
                self._open({"type": "redacted_thinking", "data": block.get("data", "")}, out)
                self._close(out)

    def feed(self, data: dict[str, Any] | None, usage: Usage | None) -> list[bytes]:
        out = [] if self._started else self.start()
        if usage is not None:
            self._usage = usage
        for choice in (data or {}).get("choices") or ():
            delta = choice.get("delta") or {}
            if "reasoning_content" in delta or "thinking_blocks" in delta:
                self._thinking(delta, out)
            text = delta.get("content")
            if text:
                if self._kind != "text":
                    self._open({"type": "text", "text": ""}, out)
                self._delta({"type": "text_delta", "text": text}, out)
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in self._tools:
                    self._open({"type": "tool_use", "id": call.get("id") or f"toolu_{index}",
                                "name": function.get("name", ""), "input": {}}, out)
                    self._tools[index] = self._block
                if function.get("arguments"):
                    out.append(event("content_block_delta", {"type": "content_block_delta", "index": self._tools[index],
                                                             "delta": {"type": "input_json_delta",
                                                                       "partial_json": function["arguments"]}}))
            if choice.get("finish_reason"):
                self._stop = stop_reason(choice["finish_reason"])
        return out

    def finish(self, cost: float | None = None) -> list[bytes]:
        """The closing events; ``cost`` (US dollars) goes in ``message_delta``'s usage as ``cost_usd``."""
        out = [] if self._started else self.start()
        self._close(out)
        usage: dict[str, Any] = dict(usage_from_core(self._usage))
        if cost is not None:
            usage["cost_usd"] = round(cost, 10)
        delta = {"type": "message_delta", "delta": {"stop_reason": self._stop or "end_turn", "stop_sequence": None},
                 "usage": usage}
        out.append(event("message_delta", delta))
        out.append(event("message_stop", {"type": "message_stop"}))
        return out


def error_body(err: SwitchyardError) -> dict[str, Any]:
    """The Anthropic-shaped body ``{"type": "error", "error": {...}}`` for a core error."""
    return {"type": "error", "error": {"type": error_type_of(err.status), "message": err.message}}
