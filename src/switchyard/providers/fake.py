"""The built-in fake provider: no network, no key, behaviour chosen by model name.

- ``echo`` (any unknown name too): answers with the last user message, streams it
  word by word, reports usage (one token per word);
- ``slow``: like echo, 0.2 s before the first word and 0.05 s between words
  (``options.first_delay`` / ``options.chunk_delay`` override);
- ``fail``: 502 as if the upstream were down; ``rate-limit``: 429 with Retry-After 1;
- ``timeout``: never answers, so the deadline or request timeout fires;
- ``break``: streams three words, then the upstream "drops" the stream;
- ``rerank``: answers the reranking prompt of ``components/rerankers.py`` (a
  ``Query:`` line, then ``[n] passage`` lines) with ``{"scores": [...]}``, each
  the share of the query's words the passage holds, times ten — deterministic.

With ``tools`` in the request and a last user message saying ``call <tool name>``,
it answers with a call to that tool whose arguments echo the message. A ``fake-script:``
line in the conversation scripts its answers turn by turn — which tools it calls, with
which arguments, and what it says (``fake_script.py``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import struct
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from switchyard.core.call import Call
from switchyard.core.errors import (
    InvalidRequest,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    EmbeddingRequest,
    EmbeddingResponse,
    RerankRequest,
    RerankResponse,
    Usage,
    rerank_body,
)
from switchyard.providers.base import Provider
from switchyard.providers.fake_script import ScriptError, scripted_turn

#: The most embedding dimensions the fake computes (OpenAI's largest model has 3072).
MAX_DIMENSIONS = 4096


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _count(text: str) -> int:
    return max(1, len(text.split()))


class FakeProvider(Provider):
    """In-process upstream for demos, tests and benchmarks."""

    name: ClassVar[str] = "fake"
    known_models: ClassVar[tuple[str, ...]] = ("echo", "slow", "fail", "rate-limit", "timeout", "break", "rerank")

    def __init__(self, deployment, http=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, http)
        self.behaviour = deployment.model.rsplit("/", 1)[-1]
        slow = self.behaviour == "slow"
        self.first_delay = float(deployment.options.get("first_delay", 0.2 if slow else 0.0))
        self.chunk_delay = float(deployment.options.get("chunk_delay", 0.05 if slow else 0.0))
        self._ids = itertools.count(1)

    async def _fail_if_asked(self, call: Call) -> None:
        if self.behaviour == "fail":
            raise UpstreamUnavailable("fake upstream is down (model 'fail')")
        if self.behaviour == "rate-limit":
            raise UpstreamRateLimited("fake upstream rate limit (model 'rate-limit')", retry_after=1.0)
        if self.behaviour == "timeout":
            remaining = call.remaining()
            wait = self.deployment.timeouts.request if remaining is None else min(remaining, self.deployment.timeouts.request)
            await asyncio.sleep(max(0.0, wait))
            raise UpstreamTimeout("fake upstream did not answer in time (model 'timeout')")
        if self.first_delay:
            await asyncio.sleep(self.first_delay)

    def _answer(self, request: ChatRequest) -> tuple[str, list[dict[str, Any]], int]:
        messages = request.messages
        prompt_tokens = sum(_count(_text_of(m.get("content"))) for m in messages)
        try:
            turn = scripted_turn(messages)
        except ScriptError as exc:
            raise InvalidRequest(str(exc), param="messages", code="invalid_value") from None
        if turn is not None:
            calls = [{"id": f"call_fake_{next(self._ids)}", "type": "function",
                      "function": {"name": name, "arguments": args}} for name, args in turn.calls]
            return turn.text, calls, prompt_tokens
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        text = _text_of(last_user.get("content")) if last_user else ""
        tools = request.body.get("tools") or []
        for tool in tools:
            name = (tool.get("function") or {}).get("name")
            if name and f"call {name}" in text:
                call_id = f"call_fake_{next(self._ids)}"
                args = '{"input": ' + _json_string(text) + "}"
                return "", [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}], \
                    prompt_tokens
        if self.behaviour == "rerank":
            return _rerank(text), [], prompt_tokens
        return text or "(empty)", [], prompt_tokens

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        await self._fail_if_asked(call)
        text, tool_calls, prompt_tokens = self._answer(request)
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=_count(text) if text else 1)
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        body = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.deployment.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
            ],
            "usage": usage.to_openai(),
        }
        return ChatResponse(body=body, usage=usage)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        await self._fail_if_asked(call)
        return self._chunks(request)

    async def _chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        text, tool_calls, prompt_tokens = self._answer(request)
        base = {"id": f"chatcmpl-fake-{next(self._ids)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.deployment.model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> Chunk:
            data = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
            return Chunk(data=data)

        yield chunk({"role": "assistant", "content": ""})
        words = text.split(" ") if text else []
        for i, word in enumerate(words):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            if self.behaviour == "break" and i == 3:
                raise UpstreamProtocolError("fake upstream dropped the stream (model 'break')")
            yield chunk({"content": word if i == 0 else " " + word})
        for index, tool_call in enumerate(tool_calls):
            function = tool_call["function"]
            yield chunk({"tool_calls": [{"index": index, "id": tool_call["id"], "type": "function",
                                         "function": {"name": function["name"], "arguments": ""}}]})
            args = function["arguments"]
            for start in range(0, len(args), 8):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[start:start + 8]}}]})
        yield chunk({}, "tool_calls" if tool_calls else "stop")
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=len(words) or 1)
        final = Chunk(data=dict(base, choices=[], usage=usage.to_openai()), usage=usage)
        if request.include_usage:
            yield final
        else:
            yield Chunk(data=None, usage=usage)  # usage for accounting only, never sent

    async def rerank(self, request: RerankRequest, call: Call) -> RerankResponse:
        """Scores each document by the share of the query's words (over two letters) it holds."""
        await self._fail_if_asked(call)
        wanted = {w for w in _WORD.findall(request.query.lower()) if len(w) > 2}
        scores = [round(len(wanted & set(_WORD.findall(d.lower()))) / len(wanted), 4) if wanted else 0.0
                  for d in request.documents]
        usage = Usage(prompt_tokens=_count(request.query) * len(request.documents)
                      + sum(_count(d) for d in request.documents))
        body = rerank_body(request, scores, self.deployment.model, usage, f"rerank-fake-{next(self._ids)}")
        return RerankResponse(body=body, usage=usage)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        await self._fail_if_asked(call)
        dimensions = int(request.body.get("dimensions") or 8)
        if dimensions > MAX_DIMENSIONS:  # as OpenAI: a 400, not a vector computed for seconds
            raise InvalidRequest(f"This model supports at most {MAX_DIMENSIONS} dimensions; {dimensions} were asked.",
                                 param="dimensions", code="invalid_value")
        as_base64 = request.body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(request.inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += _count(text)
            vector = _vector(text, dimensions)
            embedding: Any = _base64(vector) if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        usage = Usage(prompt_tokens=tokens)
        body = {"object": "list", "data": data, "model": self.deployment.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return EmbeddingResponse(body=body, usage=usage)


def _base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32s, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend(v / 2**31 for v in struct.unpack("<8i", digest))
        counter += 1
    vec = out[:dimensions]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


_WORD = re.compile(r"[a-z0-9]+")
_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def _rerank(prompt: str) -> str:
    """Scores by word overlap for the reranking prompt (``Query: ...`` and ``[n] passage`` lines)."""
    query = next((line[7:] for line in prompt.splitlines() if line.startswith("Query: ")), "")
    wanted = {w for w in _WORD.findall(query.lower()) if len(w) > 2}
    scores = []
    for _, passage in _PASSAGE.findall(prompt):
        held = set(_WORD.findall(passage.lower()))
        scores.append(round(10 * len(wanted & held) / len(wanted), 3) if wanted else 0.0)
    return orjson.dumps({"scores": scores}).decode()


def _json_string(text: str) -> str:
    return orjson.dumps(text).decode()
