"""One model call of a run: streamed through the gateway, put together into the assistant
message (text and tool calls), with its usage and the gateway's price of it.

Every call is a stream with ``include_usage``: the text reaches ``on_text`` as it is
written, and the final usage carries the cost the gateway computed (``cost_usd``) —
the same accounting its spend records and budgets use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

#: Most tool calls one answer may hold; more is a broken answer, not a plan.
MAX_CALLS = 128
#: Most characters of one answer's text, or one call's arguments, kept.
MAX_CHARS = 4_000_000


@dataclass(slots=True)
class ModelTurn:
    """The assistant's message (OpenAI shape) and what the call used."""

    message: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelTurn:
        return cls(data["message"], int(data["prompt_tokens"]), int(data["completion_tokens"]),
                   float(data["cost_usd"]))

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self.message.get("tool_calls") or [])

    @property
    def text(self) -> str:
        return str(self.message.get("content") or "")


async def call_model(client: Any, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                     on_text: Callable[[str], Awaitable[None]], headers: dict[str, str] | None = None) -> ModelTurn:
    """Stream one answer through ``client`` (a ``switchyard.AsyncClient``) and assemble it;
    ``headers`` go with the request (the run's ``traceparent``)."""
    text: list[str] = []
    size = 0
    calls: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    options = dict(params.pop("stream_options", None) or {}, include_usage=True)
    async for chunk in client.stream(model=model, messages=messages, headers=headers, stream_options=options,
                                     **params):
        data = chunk.json()
        if isinstance(data.get("usage"), dict):
            usage = data["usage"]
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if piece:
                size += len(piece)
                if size > MAX_CHARS:
                    raise ValueError(f"the model's answer is longer than {MAX_CHARS} characters")
                text.append(piece)
                await on_text(piece)
            for part in delta.get("tool_calls") or ():
                index = int(part.get("index", 0))
                if index not in calls:
                    if len(calls) >= MAX_CALLS:
                        raise ValueError(f"the model's answer holds more than {MAX_CALLS} tool calls")
                    calls[index] = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                call = calls[index]
                if part.get("id"):
                    call["id"] = part["id"]
                function = part.get("function") or {}
                if function.get("name"):
                    call["function"]["name"] += function["name"]
                if function.get("arguments"):
                    call["function"]["arguments"] += function["arguments"]
                    if len(call["function"]["arguments"]) > MAX_CHARS:
                        raise ValueError(f"a tool call's arguments are longer than {MAX_CHARS} characters")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
        for n, call in enumerate(message["tool_calls"]):
            call["id"] = call["id"] or f"call_{n}"
    return ModelTurn(message, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                     float(usage.get("cost_usd") or 0.0))
