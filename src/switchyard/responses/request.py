"""A Responses API request, checked and translated to the gateway's chat request.

``parse(body)`` checks the fields the translation reads against OpenAI's published
shapes (msgspec, a 400 naming the field on failure) and ``to_chat_body`` writes the
OpenAI chat body the pipeline runs: ``instructions`` as the system message, input
items as messages (``function_call`` items as an assistant's ``tool_calls``,
``function_call_output`` as ``tool`` messages, ``input_image`` as ``image_url``
parts), function tools and ``tool_choice`` in chat's shape, ``text.format`` as
``response_format``, ``max_output_tokens`` as ``max_completion_tokens``,
``reasoning.effort`` as ``reasoning_effort`` (each provider maps it, see
``providers/reasoning.py``). Items of the conversation a ``previous_response_id``
names come first (``history``).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import orjson

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import ModelName, check_fields

#: Item ids look like OpenAI's: a prefix and 48 hex digits.
ID_HEX = 24


def new_id(prefix: str) -> str:
    """A fresh id: 192 random bits from the OS (``secrets.token_hex`` without its two calls)."""
    return f"{prefix}_{os.urandom(ID_HEX).hex()}"


class _InputText(msgspec.Struct, tag_field="type", tag="input_text"):
    text: str


class _OutputText(msgspec.Struct, tag_field="type", tag="output_text"):
    text: str
    annotations: list[Any] | None = None


class _Refusal(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


class _InputImage(msgspec.Struct, tag_field="type", tag="input_image"):
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] | None = None


class _InputFile(msgspec.Struct, tag_field="type", tag="input_file"):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None
    file_url: str | None = None


_Part = _InputText | _OutputText | _Refusal | _InputImage | _InputFile


class _MessageItem(msgspec.Struct, tag_field="type", tag="message"):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[_Part]
    id: str | None = None
    status: str | None = None


class _FunctionCallItem(msgspec.Struct, tag_field="type", tag="function_call"):
    call_id: Annotated[str, msgspec.Meta(min_length=1)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    arguments: str
    id: str | None = None
    status: str | None = None


class _FunctionOutputItem(msgspec.Struct, tag_field="type", tag="function_call_output"):
    call_id: Annotated[str, msgspec.Meta(min_length=1)]
    output: str | list[_Part]
    id: str | None = None
    status: str | None = None


class _ReasoningItem(msgspec.Struct, tag_field="type", tag="reasoning"):
    summary: list[Any] | None = None
    id: str | None = None
    encrypted_content: str | None = None


_Item = _MessageItem | _FunctionCallItem | _FunctionOutputItem | _ReasoningItem


class _ResponsesFunctionTool(msgspec.Struct, tag_field="type", tag="function"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class _ResponsesFunctionChoice(msgspec.Struct, tag_field="type", tag="function"):
    name: str


class _ResponsesAllowedTools(msgspec.Struct, tag_field="type", tag="allowed_tools"):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class _TextFormatText(msgspec.Struct, tag_field="type", tag="text"):
    pass


class _TextFormatJsonObject(msgspec.Struct, tag_field="type", tag="json_object"):
    pass


class _TextFormatJsonSchema(msgspec.Struct, tag_field="type", tag="json_schema"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


class _Text(msgspec.Struct):
    format: _TextFormatText | _TextFormatJsonObject | _TextFormatJsonSchema | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class _Reasoning(msgspec.Struct):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: str | None = None
    generate_summary: str | None = None


class _ResponsesSchema(msgspec.Struct):
    """OpenAI's ``POST /v1/responses`` body, down to the fields the translation reads."""

    model: ModelName
    input: str | list[_Item] | None = None
    instructions: str | None = None
    previous_response_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    store: bool | None = None
    stream: bool | None = None
    tools: list[_ResponsesFunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _ResponsesFunctionChoice | _ResponsesAllowedTools | None = None
    parallel_tool_calls: bool | None = None
    text: _Text | None = None
    reasoning: _Reasoning | None = None
    max_output_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    metadata: Annotated[dict[str, str], msgspec.Meta(max_length=16)] | None = None
    user: str | None = None
    safety_identifier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    background: bool | None = None
    conversation: Any = None
    stream_options: dict[str, Any] | None = None


@dataclass(slots=True)
class ResponsesRequest:
    """A checked Responses request: the client's body and its input as a list of items."""

    body: dict[str, Any]
    model: str
    stream: bool
    store: bool
    previous_response_id: str | None
    #: The input as items with ids (a string input is one user message), as stored.
    items: list[dict[str, Any]]


def parse(body: dict[str, Any]) -> ResponsesRequest:
    """Check a ``POST /v1/responses`` body; InvalidRequest names the field."""
    items = body.get("input")
    if isinstance(items, list):  # a message item may leave out its ``type``
        body = {**body, "input": [{"type": "message", **item} if isinstance(item, dict) and "type" not in item
                                  else item for item in items]}
    for index, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and tool.get("type") != "function":
            raise InvalidRequest(f"Invalid request: tools of type {str(tool.get('type'))[:64]!r} are not served by "
                                 "this gateway; only `function` tools are", param=f"tools[{index}].type",
                                 code="invalid_value")
    parsed = check_fields(body, _ResponsesSchema)
    if parsed.background:
        raise InvalidRequest("Invalid request: `background` responses are not served by this gateway",
                             param="background", code="invalid_value")
    if parsed.conversation is not None:
        raise InvalidRequest("Invalid request: `conversation` is not served by this gateway; "
                             "chain responses with `previous_response_id`", param="conversation", code="invalid_value")
    if parsed.input is None or parsed.input == []:
        raise InvalidRequest("Invalid request: `input` is required (a string or a list of items)",
                             param="input", code="invalid_value")
    return ResponsesRequest(body=body, model=parsed.model, stream=bool(parsed.stream),
                            store=parsed.store is not False, previous_response_id=parsed.previous_response_id,
                            items=input_items(body["input"]))


def input_items(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The input as items, each with an id (``msg_``, ``fc_``, ``fco_``) as OpenAI lists them."""
    if isinstance(value, str):
        return [{"id": new_id("msg"), "type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": value}]}]
    out = []
    for item in value:
        kind = item.get("type", "message")
        prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}.get(kind, "rs")
        item = {"type": kind, **item}
        if kind == "message" and isinstance(item["content"], str):
            part = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": part, "text": item["content"]}]
        item.setdefault("id", new_id(prefix))
        out.append(item)
    return out


def _part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        if not part.get("image_url"):
            raise InvalidRequest(f"Invalid request: `{where}.image_url` is required: images by `file_id` need the "
                                 "Files API, which this gateway does not serve", param=f"{where}.image_url",
                                 code="invalid_value")
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k) is not None}
    return {"type": "file", "file": file}


def _content(content: list[dict[str, Any]], where: str) -> str | list[dict[str, Any]]:
    parts = [_part(p, f"{where}[{i}]") for i, p in enumerate(content)]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _thinking_blocks(sealed: str | None, where: str) -> list[dict[str, Any]] | None:
    """The signed thinking blocks a ``reasoning`` item carries (``answer.sealed_blocks``)."""
    if not sealed:
        return None
    try:
        blocks = orjson.loads(base64.urlsafe_b64decode(sealed.encode()))
    except (binascii.Error, ValueError):
        blocks = None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and b.get("type") in (
            "thinking", "redacted_thinking") for b in blocks):
        raise InvalidRequest(f"Invalid request: `{where}.encrypted_content` is not a reasoning item this gateway "
                             "returned", param=f"{where}.encrypted_content", code="invalid_value")
    return blocks


def to_messages(items: list[dict[str, Any]], where: str = "input") -> list[dict[str, Any]]:
    """Chat messages for Responses items: consecutive function calls are one assistant
    turn's ``tool_calls`` (joined to the assistant message before them); a reasoning
    item's signed thinking opens the assistant turn after it (``thinking_blocks``)."""
    messages: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] | None = None
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        here = f"{where}[{index}]"
        if kind == "message":
            role = item["role"]
            messages.append({"role": role, "content": _content(item["content"], f"{here}.content")})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else _content(output, f"{here}.output")
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": text if isinstance(text, str) else [p for p in text if p["type"] == "text"]})
        elif kind == "reasoning":
            thinking = _thinking_blocks(item.get("encrypted_content"), here) or thinking
            continue
        if thinking is not None and messages and messages[-1]["role"] == "assistant":
            messages[-1]["thinking_blocks"] = thinking
            thinking = None
    return messages


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if choice["type"] == "function":
        return {"type": "function", "function": {"name": choice["name"]}}
    tools = [{"type": "function", "function": {"name": t.get("name")}} for t in choice["tools"]]
    return {"type": "allowed_tools", "allowed_tools": {"mode": choice["mode"], "tools": tools}}


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": schema}


#: Fields that mean the same in both APIs.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "metadata", "user", "safety_identifier",
         "prompt_cache_key", "service_tier")


def to_chat_body(request: ResponsesRequest, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat body the pipeline runs for ``request``, after the ``history`` items."""
    body = request.body
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(to_messages(history, "previous_response_id"))
    messages.extend(to_messages(request.items))
    chat: dict[str, Any] = {"model": request.model, "messages": messages}
    for name in _SAME:
        if body.get(name) is not None:
            chat[name] = body[name]
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = [{"type": "function", "function": {
            k: t[k] for k in ("name", "description", "parameters", "strict") if t.get(k) is not None}}
            for t in body["tools"]]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = (body.get("text") or {}).get("format")
    if fmt is not None and fmt["type"] != "text":
        chat["response_format"] = _response_format(fmt)
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        chat["reasoning_effort"] = effort
    return chat
