"""OpenAI-shaped bodies built from parts: what a translating provider returns.

Adapters whose upstream speaks another wire format (Gemini, Cohere, ...) turn
the upstream's answer into these shapes, so the rest of the gateway only ever
sees ``chat.completion``, ``chat.completion.chunk`` and embedding lists.
"""

from __future__ import annotations

import base64
import secrets
import struct
import time
from collections.abc import Sequence
from typing import Any

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import Chunk, Usage


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


def completion(ident: str, model: str, created: int, choices: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any]:
    """A ``chat.completion`` body."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": (usage or Usage()).to_openai(),
    }


class ChunkMaker:
    """Builds the ``chat.completion.chunk`` dicts of one stream (same id, model, created)."""

    __slots__ = ("ident", "model", "created")

    def __init__(self, ident: str, model: str, created: int | None = None) -> None:
        self.ident = ident
        self.model = model
        self.created = now() if created is None else created

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> Chunk:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return Chunk(data={"id": self.ident, "object": "chat.completion.chunk", "created": self.created,
                           "model": self.model, "choices": [choice]})

    def usage(self, usage: Usage, *, visible: bool) -> Chunk:
        """The final usage chunk; invisible (accounting only) unless the client asked for it."""
        if not visible:
            return Chunk(usage=usage)
        data = {"id": self.ident, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage.to_openai()}
        return Chunk(data=data, usage=usage)


def embedding_list(
    vectors: Sequence[Sequence[float]], model: str, usage: Usage, encoding_format: str | None = None
) -> dict[str, Any]:
    """An OpenAI embedding list; ``encoding_format="base64"`` packs little-endian float32
    (what the ``openai`` SDK asks for by default)."""
    data = []
    for index, vector in enumerate(vectors):
        value: Any = list(vector)
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
    }


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content`` (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The texts of an embedding request; token-id inputs are refused by name."""
    value = body.get("input")
    items = [value] if isinstance(value, str) else list(value or [])
    if not items or not all(isinstance(item, str) for item in items):
        raise InvalidRequest("This provider embeds text only: `input` must be a string or a list of strings",
                             param="input", code="invalid_value")
    return items
