"""Token estimates made before a call, and cheap counts of a stream's output.

The reservation for a request is its prompt (counted locally) plus the most it
may generate (``max_tokens``, else ``default_max_tokens``). The upstream's
reported usage settles it afterwards; these numbers only have to be close.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.messages import ChatRequest, Chunk, CompletionRequest, EmbeddingRequest, RerankRequest
from switchyard.core.tokens import TokenCounter, rough_count


class Estimator:
    """Prompt and completion estimates; ``mode`` is ``"tokenizer"`` (tiktoken) or ``"rough"``."""

    def __init__(self, tokens: TokenCounter, mode: str = "tokenizer", default_max_tokens: int = 1024) -> None:
        self.tokens = tokens
        self.exact = mode == "tokenizer"
        self.default_max_tokens = default_max_tokens

    def _text(self, text: str) -> int:
        return self.tokens.count_text(text) if self.exact else rough_count(text)

    def prompt(self, request: Any) -> int:
        if isinstance(request, ChatRequest):
            if self.exact:
                return self.tokens.count_messages(request.messages, request.body.get("tools"))
            total = 3  # a loop, not a generator: every budgeted request counts its prompt here
            for message in request.body["messages"]:
                content = message.get("content")
                total += 4 + rough_count(content if isinstance(content, str) else _content_text(content))
            return total
        if isinstance(request, EmbeddingRequest):
            return sum(len(i) if isinstance(i, list) else self._text(str(i)) for i in request.inputs)
        if isinstance(request, RerankRequest):  # the query is read once per document
            query = self._text(request.query)
            return sum(query + self._text(d) for d in request.documents)
        if isinstance(request, CompletionRequest):
            prompt = request.body.get("prompt")
            if isinstance(prompt, list):
                return sum(len(p) if isinstance(p, list) else self._text(str(p)) for p in prompt)
            return self._text(prompt or "")
        return 0

    def bounds(self, request: Any) -> tuple[int, int, bool]:
        """``prompt(request)`` and ``completion(request)`` in one call (what a budget reserves for,
        on every request: a chat request's bound is read here, without a second call)."""
        if isinstance(request, ChatRequest):
            bound = request.max_tokens
            if isinstance(bound, int) and bound > 0:
                return self.prompt(request), bound, True
            return self.prompt(request), self.default_max_tokens, False
        completion, bounded = self.completion(request)
        return self.prompt(request), completion, bounded

    def completion(self, request: Any) -> tuple[int, bool]:
        """The most the answer may cost, and whether the upstream enforces that bound."""
        if isinstance(request, EmbeddingRequest | RerankRequest):
            return 0, True
        bound = getattr(request, "max_tokens", None)
        if bound is None and isinstance(request, CompletionRequest):
            bound = request.body.get("max_tokens")
        if isinstance(bound, int) and bound > 0:
            return bound, True
        return self.default_max_tokens, False


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def chunk_tokens(chunk: Chunk) -> int:
    """About how many tokens a streamed chunk carries (four characters a token, one at least)."""
    data = chunk.data
    if data is None:
        raw = chunk.raw
        if not raw:
            return 0
        # The text sits between the envelope's quotes; counting the bytes of a
        # delta is close enough to stop a runaway stream, without parsing it.
        skip = 11
        start = raw.find(b'"content":"')
        if start < 0:
            skip, start = 8, raw.find(b'"text":"')
            if start < 0:
                return 0
        start += skip
        end = raw.find(b'"', start)
        while end > 0 and raw[end - 1] == 92:  # an escaped quote: keep looking
            end = raw.find(b'"', end + 1)
        return max(1, (end - start + 3) // 4) if end > 0 else 1
    total = 0
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        text = delta.get("content") or choice.get("text") or ""
        if text:
            total += max(1, rough_count(text))
    return total
