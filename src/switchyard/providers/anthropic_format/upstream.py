"""An Anthropic model behind the gateway: the Messages format to and from an upstream.

Pure transforms, no network (the tables shared with ``front`` are in ``messages``):

OpenAI chat request -> Anthropic Messages request (``build_request``);
Anthropic message -> OpenAI ``chat.completion`` (``message_to_openai``,
``parse_message``); Anthropic error bodies -> core errors (``parse_error``, ``error_from_body``).

Stream events are ``upstream_stream``'s. Choices worth knowing:

- system and developer messages, wherever they stand, become the top-level
  ``system`` (Anthropic has no system turn); consecutive turns of one role are
  merged into one turn, so consecutive ``tool`` results become one user turn of
  ``tool_result`` blocks.
- ``temperature`` is clamped to Anthropic's 0..1; ``n`` > 1 is refused; fields
  Anthropic has no use for (``seed``, ``logprobs``, penalties, ``stream_options``
  ...) are never sent: the body is built from the fields we know, not copied.
- ``response_format`` with a JSON schema uses Anthropic's structured output,
  ``output_config.format`` (``structured="native"``, the default). With
  ``structured="tool"`` (deployment option ``structured_output: tool``, for
  models without structured output) and for ``json_object`` we use the
  documented tool-forcing technique: one tool named ``json_output`` whose
  input schema is the wanted schema, forced by ``tool_choice``; its input comes
  back as the message text.
- usage is mapped by ``messages.usage_to_core`` (cache reads and writes count
  as prompt tokens, as OpenAI counts them).
- prompt caching: ``cache_control`` marks on content parts, on a message (its
  last block), on system messages (``system`` then goes as text blocks) and on
  tools are kept on the matching Anthropic blocks.
- reasoning: ``reasoning_effort`` becomes ``thinking`` with the budget of
  ``providers.reasoning`` (``max_tokens`` raised or the budget shrunk so that it
  stays above the budget); a ``thinking`` object in the body is sent as is. An
  assistant message's ``thinking_blocks`` (signed, from an earlier answer) open
  its turn again; thinking in an answer comes back as ``reasoning_content`` plus
  ``thinking_blocks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from switchyard.core.errors import SwitchyardError, UpstreamProtocolError, from_upstream_status
from switchyard.core.messages import ChatResponse, Usage
from switchyard.providers.anthropic_format.messages import (
    TOOL_CHOICE_TYPES,
    finish_reason,
    invalid,
    joined_text,
    status_of,
    thinking_block,
    tool_call,
    tool_input,
    url_to_source,
    usage_to_core,
)
from switchyard.providers.reasoning import anthropic_thinking, requested_budget
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body, no_headers

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_output"

def _marked(block: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """``block`` with the ``cache_control`` mark ``source`` carries, if any."""
    mark = source.get("cache_control")
    if mark is not None:
        block["cache_control"] = mark
    return block


def _blocks(content: Any, param: str) -> list[dict[str, Any]]:
    """OpenAI message content -> Anthropic content blocks (``cache_control`` marks kept)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out = []
    for i, part in enumerate(content):
        kind = part.get("type")
        where = f"{param}[{i}]"
        if kind == "text":
            if part.get("text"):
                out.append(_marked({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise invalid("image_url needs a url", f"{where}.image_url.url")
            out.append(_marked({"type": "image", "source": url_to_source(url, f"{where}.image_url.url")}, part))
        elif kind == "file" and str((part.get("file") or {}).get("file_data", "")).startswith("data:"):
            out.append(_marked({"type": "document", "source": url_to_source(part["file"]["file_data"], f"{where}.file")},
                               part))
        else:
            raise invalid(f"Content part type {kind!r} is not supported by Anthropic models", f"{where}.type")
    return out


def _arguments(raw: Any, param: str) -> Any:
    try:
        return tool_input(raw)
    except ValueError:
        raise invalid("Tool call arguments must be a JSON object", param) from None


def _system(messages: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    """System and developer messages -> Anthropic's ``system``: one string, or text blocks
    when any of them carries a ``cache_control`` mark (a string cannot)."""
    found = [m for m in messages if m.get("role") in ("system", "developer")]
    if not found:
        return None
    marked = any(m.get("cache_control") is not None or
                 (isinstance(m.get("content"), list) and any(p.get("cache_control") is not None for p in m["content"]))
                 for m in found)
    if not marked:
        return "\n\n".join(joined_text(m.get("content")) for m in found)
    blocks: list[dict[str, Any]] = []
    for message in found:
        content = message.get("content")
        own = ([{"type": "text", "text": content}] if isinstance(content, str) and content else
               [_marked({"type": "text", "text": p["text"]}, p) for p in content or ()
                if isinstance(p, dict) and p.get("type") == "text" and p.get("text")])
        if own:
            _marked(own[-1], message)
        blocks.extend(own)
    return blocks


def _turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            continue
        if role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or ""}
            content = _blocks(message.get("content"), f"{param}.content")
            if content:
                result["content"] = content
            blocks = [result]
            role = "user"
        elif role == "assistant":
            # Signed thinking first: Claude wants an assistant turn to open with it.
            blocks = [dict(b) for b in message.get("thinking_blocks") or ()]
            blocks += _blocks(message.get("content"), f"{param}.content")
            for j, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_{i}_{j}",
                               "name": function.get("name", ""),
                               "input": _arguments(function.get("arguments"), f"{param}.tool_calls[{j}].function.arguments")})
        elif role == "user":
            blocks = _blocks(message.get("content"), f"{param}.content")
        else:
            raise invalid(f"Role {role!r} is not supported by Anthropic models", f"{param}.role")
        if blocks:
            _marked(blocks[-1], message)  # a mark on the message marks its last block
        elif role == "assistant":
            continue  # Anthropic refuses empty turns; an empty assistant turn says nothing
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICE_TYPES:
        return {"type": TOOL_CHOICE_TYPES[choice]}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        return {"type": "tool", "name": choice["function"]["name"]}
    raise invalid("tool_choice must be auto, none, required or a named function", "tool_choice")


def build_request(
    body: dict[str, Any],
    upstream_model: str,
    *,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    structured: str = "native",
) -> dict[str, Any]:
    """The Anthropic Messages body for an OpenAI chat body."""
    if (body.get("n") or 1) > 1:
        raise invalid("Anthropic models return one choice: `n` must be 1", "n")
    turns = _turns(body["messages"])
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    out: dict[str, Any] = {"model": upstream_model, "max_tokens": limit or default_max_tokens, "messages": turns}
    system = _system(body["messages"])
    if system:
        out["system"] = system
    if isinstance(body.get("thinking"), dict):
        out["thinking"] = body["thinking"]  # Anthropic's own field, sent by the client as an extension
    else:
        budget = requested_budget(body)
        if budget:
            out["thinking"], out["max_tokens"] = anthropic_thinking(budget, limit, default_max_tokens)
    if body.get("temperature") is not None:
        out["temperature"] = min(1.0, float(body["temperature"]))
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream"):
        out["stream"] = True
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    tools = [t for t in body.get("tools") or () if t.get("type", "function") == "function"]
    if tools:
        out["tools"] = [
            _marked({"name": f["name"], **({"description": f["description"]} if f.get("description") else {}),
                     "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}, t)
            for t in tools for f in (t.get("function") or {},)
        ]
    choice = _tool_choice(body.get("tool_choice")) if tools or body.get("tool_choice") == "none" else None
    if body.get("parallel_tool_calls") is False and tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        out["tool_choice"] = choice
    _structured(body.get("response_format"), out, structured)
    return out


def _structured(fmt: Any, out: dict[str, Any], structured: str) -> None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return
    if fmt["type"] == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise invalid("response_format.json_schema.schema must be a JSON schema object", "response_format.json_schema.schema")
        if structured == "native":
            out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
            return
    elif fmt["type"] == "json_object":
        schema = {"type": "object"}
    else:
        raise invalid(f"response_format type {fmt['type']!r} is not supported", "response_format.type")
    tool = {"name": JSON_TOOL, "description": "Answer with the requested JSON object.", "input_schema": schema}
    out["tools"] = [*out.get("tools", ()), tool]
    out["tool_choice"] = {"type": "tool", "name": JSON_TOOL}


def json_tool_forced(anthropic_body: dict[str, Any]) -> bool:
    """Whether ``build_request`` used the tool-forcing technique for JSON output."""
    return (anthropic_body.get("tool_choice") or {}).get("name") == JSON_TOOL


def message_to_openai(message: dict[str, Any], *, json_tool: bool = False) -> tuple[dict[str, Any], Usage | None]:
    """An Anthropic message -> ``(chat.completion body, usage)``."""
    texts: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif (entry := thinking_block(block)) is not None:
            thinking.append(entry)
        elif kind == "tool_use":
            if json_tool and block.get("name") == JSON_TOOL:
                texts.append(orjson.dumps(block.get("input") or {}).decode())
            else:
                calls.append(tool_call(block))
    finish = finish_reason(message.get("stop_reason"))
    if json_tool and finish == "tool_calls" and not calls:
        finish = "stop"
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                            "refusal": None}
    if thinking:
        reply["reasoning_content"] = "".join(b.get("thinking", "") for b in thinking)
        reply["thinking_blocks"] = thinking
    if calls:
        reply["tool_calls"] = calls
    usage = usage_to_core(message.get("usage"))
    body = {
        "id": message.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage.to_openai()
    return body, usage


def parse_message(raw: bytes, *, json_tool: bool = False) -> ChatResponse:
    """An Anthropic message body -> ChatResponse in OpenAI format."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Upstream returned a body that is not JSON") from None
    if not isinstance(message, dict) or message.get("type") != "message":
        if isinstance(message, dict) and message.get("type") == "error":
            raise error_from_body(None, message, no_headers)
        raise UpstreamProtocolError("Upstream returned JSON that is not an Anthropic message")
    body, usage = message_to_openai(message, json_tool=json_tool)
    return ChatResponse(body=body, usage=usage)


def error_from_body(status: int | None, body: Any, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """An Anthropic error ``{"type": "error", "error": {"type", "message"}}`` -> core error.

    ``status`` None means the error came without one (a stream event): it is
    inferred from the error type."""
    message, kind = f"Upstream returned HTTP {status}", None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind = error.get("type")
            message = str(error.get("message") or message)
    if status is None:
        status = status_of(kind)
        if message.startswith("Upstream returned HTTP"):
            message = f"Upstream stream error: {kind}"
    if "prompt is too long" in message:  # Anthropic's wording for a context-window overflow
        kind = "context_length_exceeded"
    return from_upstream_status(status, message, code=kind, retry_after=parse_retry_after(get_header, status))


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """The error for a non-2xx Anthropic answer (529 overloaded is retryable)."""
    return error_from_body(status, error_body(raw), get_header)
