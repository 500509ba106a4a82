"""The Responses API's ``response`` object, built from a chat completion.

``shell(request, id)`` is the object every answer starts from (status
``in_progress``, no output: what ``response.created`` carries);
``output_items(message)`` turns a chat message into output items (a ``message``
with ``output_text`` and ``refusal`` parts, then one ``function_call`` per tool
call); ``finish`` completes the object with its output, status and usage.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from switchyard.core.messages import Usage
from switchyard.responses.request import ResponsesRequest, new_id

#: Chat ``finish_reason`` -> the Responses ``incomplete_details.reason``.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def shell(request: ResponsesRequest, response_id: str) -> dict[str, Any]:
    """The response object before any output: echoes the request's settings as OpenAI does."""
    body = request.body
    reasoning = body.get("reasoning") or {}
    text = dict(body.get("text") or {})
    text.setdefault("format", {"type": "text"})
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": request.model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": request.store,
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [{"strict": True, "description": None, "parameters": None, **t} for t in body.get("tools") or ()],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def reasoning_item(item_id: str, text: str, blocks: list[dict[str, Any]] | None,
                   status: str = "completed") -> dict[str, Any]:
    """A ``reasoning`` item: the model's thinking as its summary, and the provider's signed
    thinking blocks (Anthropic's, Bedrock's) as its opaque ``encrypted_content``, so a next
    turn — by ``previous_response_id`` or with the items sent back — can hand them back."""
    return {"id": item_id, "type": "reasoning", "status": status,
            "summary": [{"type": "summary_text", "text": text}] if text else [],
            "encrypted_content": sealed_blocks(blocks) if blocks else None}


def sealed_blocks(blocks: list[dict[str, Any]]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(blocks)).decode()


def output_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The output items of one chat message."""
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content:
        parts.append(text_part(content))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    out = [message_item(new_id("msg"), parts)] if parts else []
    reasoning, blocks = message.get("reasoning_content"), message.get("thinking_blocks")
    if reasoning or blocks:
        out.insert(0, reasoning_item(new_id("rs"), reasoning or "", blocks))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        out.append(call_item(new_id("fc"), call.get("id") or new_id("call"), function.get("name", ""),
                             function.get("arguments") or ""))
    return out


def usage_of(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens or 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": usage.total_tokens,
    }


def finish(response: dict[str, Any], output: list[dict[str, Any]], finish_reason: str | None,
           usage: Usage | None) -> dict[str, Any]:
    """``response`` completed (or ``incomplete``, when the output was cut short)."""
    reason = INCOMPLETE.get(finish_reason or "")
    response.update(output=output, usage=usage_of(usage),
                    status="incomplete" if reason else "completed",
                    incomplete_details={"reason": reason} if reason else None)
    if reason is None:
        response["completed_at"] = int(time.time())
    return response


def from_chat(request: ResponsesRequest, response_id: str, chat: dict[str, Any], usage: Usage | None) -> dict[str, Any]:
    """A whole ``response`` object for a non-streamed chat completion."""
    choice = (chat.get("choices") or [{}])[0]
    return finish(shell(request, response_id), output_items(choice.get("message") or {}),
                  choice.get("finish_reason"), usage)
