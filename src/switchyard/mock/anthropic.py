"""The Anthropic Messages wire format for the mock upstream.

``POST /v1/messages`` answers like ``mock.openai`` does (echo of the last user
message or the configured ``text``, about four characters a token), in
Anthropic's shapes: a ``message`` object, or the SSE event sequence
``message_start``, ``ping``, ``content_block_start`` / ``content_block_delta``
... / ``content_block_stop`` per block, ``message_delta`` (stop reason and
usage), ``message_stop``, each with its ``event:`` line. With ``tools``, a last
user message saying ``call X`` (or a ``tool_choice`` naming ``X``, or ``any``)
answers with a ``tool_use`` block whose input gives each declared property a
placeholder of its JSON type, streamed as ``input_json_delta`` pieces.
``POST /v1/messages/count_tokens`` counts the same way.

Extended thinking: with ``thinking`` enabled (or adaptive) the answer opens with a
``thinking`` block (streamed as ``thinking_delta`` pieces and a ``signature_delta``),
signed with a digest of its text; a prompt holding Anthropic's redacted-thinking
test string gets a ``redacted_thinking`` block instead. As the real API does, it
refuses a budget under 1024 or not under ``max_tokens``, a thinking block sent back
with a wrong signature, and a final assistant turn with tool use that does not open
with its thinking. Prompt caching: the prompt up to each ``cache_control`` mark
(tools, then system, then messages) of at least 1024 tokens is a cache entry; usage
reports the longest entry seen before as ``cache_read_input_tokens`` and the rest up
to the last mark as ``cache_creation_input_tokens``, outside ``input_tokens``.

Requests must carry ``anthropic-version`` (400 otherwise, as the real API) and,
when the mock has an api key, ``x-api-key`` (or a Bearer token). Errors are
``{"type": "error", "error": {"type", "message"}}``; status 529 is
``overloaded_error``. Every answer carries ``anthropic-ratelimit-*`` headers.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

RATE_LIMIT_HEADERS = (
    ("anthropic-ratelimit-requests-limit", "4000"),
    ("anthropic-ratelimit-requests-remaining", "3999"),
    ("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z"),
    ("anthropic-ratelimit-tokens-limit", "400000"),
    ("anthropic-ratelimit-tokens-remaining", "399000"),
    ("anthropic-ratelimit-tokens-reset", "2030-01-01T00:00:00Z"),
)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicWire:
    """Anthropic: ``x-api-key`` (or ``Authorization: Bearer``, which the official SDK
    now sends) header, model in the JSON body."""

    name = "anthropic"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        headers = request.headers
        return headers.get("x-api-key") == api_key or headers.get("authorization") == f"Bearer {api_key}"

    def model_of(self, request: MockRequest) -> str | None:
        return wire.body_model(request)

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return Reply(status, orjson.dumps(body), (*RATE_LIMIT_HEADERS, ("request-id", "req_mock_error")))


ANTHROPIC = AnthropicWire()


def _tool_use(body: dict[str, Any], last_user: str) -> tuple[str, dict[str, Any]] | None:
    by_name = {t["name"]: t for t in body.get("tools") or () if isinstance(t, dict) and t.get("name")}
    if not by_name:
        return None
    choice = body.get("tool_choice") or {}
    kind = str(choice.get("type"))
    forced = choice.get("name") if kind == "tool" else None
    name = wire.pick_tool(by_name, last_user, forced=forced, mode={"none": "none", "any": "required"}.get(kind, "auto"))
    return None if name is None else (name, wire.placeholder_args(by_name[name].get("input_schema"), given=last_user))


def _check(req: MockRequest, *, needs_max_tokens: bool) -> tuple[dict[str, Any] | None, Reply | None]:
    if not req.headers.get("anthropic-version"):
        return None, ANTHROPIC.error(400, "anthropic-version: header is required")
    body = req.json()
    if not isinstance(body.get("model"), str) or not body["model"]:
        return None, ANTHROPIC.error(400, "model: Field required")
    if needs_max_tokens and not isinstance(body.get("max_tokens"), int):
        return None, ANTHROPIC.error(400, "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, ANTHROPIC.error(400, "messages: at least one message is required")
    for i, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return None, ANTHROPIC.error(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
    return body, None


def _unit_tokens(unit: Any) -> int:
    text = unit.get("text") if isinstance(unit, dict) else unit
    return wire.count_tokens(text if isinstance(text, str) else orjson.dumps(unit).decode())


def _cache_units(body: dict[str, Any]) -> list[tuple[Any, int, bool]]:
    """The prompt in Anthropic's cache order (tools, system, messages), one unit per
    tool and block, a breakpoint after each ``cache_control`` mark."""
    units: list[tuple[Any, int, bool]] = [(t, _unit_tokens(t), "cache_control" in t) for t in body.get("tools") or ()]
    system = body.get("system")
    blocks = [system] if isinstance(system, str) else list(system or ())
    for message in body["messages"]:
        content = message.get("content")
        blocks += [content] if isinstance(content, str) else list(content or ())
    units += [(b, _unit_tokens(b), isinstance(b, dict) and "cache_control" in b) for b in blocks if b]
    return units


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens: tools, system and every block, plus 3 a message."""
    return sum(tokens for _, tokens, _ in _cache_units(body)) + 3 * len(body["messages"])


def _thinking_problem(body: dict[str, Any]) -> str | None:
    """What the real API says about a thinking request and the thinking blocks sent back."""
    thinking = body["thinking"]
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= body["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation."
    messages = body["messages"]
    for i, message in enumerate(messages):
        for j, block in enumerate(message.get("content") if isinstance(message.get("content"), list) else ()):
            if block.get("type") == "thinking" and block.get("signature") != wire.signature(block.get("thinking", "")):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if block.get("type") == "redacted_thinking" and not wire.redacted_ok(block.get("data")):
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
    # The final assistant turn, when a tool result answers it, must open with its thinking.
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"), None)
    if last is None or last == len(messages) - 1 or not isinstance(messages[last].get("content"), list):
        return None
    content = messages[last]["content"]
    if any(b.get("type") == "tool_use" for b in content) and content[0].get("type") not in ("thinking", "redacted_thinking"):
        return (f"messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{content[0].get('type')}`. When `thinking` is enabled, a final `assistant` message must start with "
                "a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend "
                "you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.")
    return None


def _thinking_blocks(body: dict[str, Any], last_user: str) -> list[dict[str, Any]]:
    kind = (body.get("thinking") or {}).get("type")
    if kind not in ("enabled", "adaptive"):
        return []
    if wire.REDACTED_THINKING_TRIGGER in last_user:
        return [{"type": "redacted_thinking", "data": wire.redacted_data(last_user)}]
    text = wire.thought(last_user)
    return [{"type": "thinking", "thinking": text, "signature": wire.signature(text)}]


def messages(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    body, error = _check(req, needs_max_tokens=True)
    if error is not None:
        return error
    assert body is not None
    if isinstance(body.get("thinking"), dict):
        problem = _thinking_problem(body)
        if problem:
            return ANTHROPIC.error(400, problem)
    last_user = wire.last_user_text(body["messages"])
    call = _tool_use(body, last_user)
    text, cut = wire.answer_text(settings, last_user, body["max_tokens"], calls_tool=call is not None)
    stop = "max_tokens" if cut else "end_turn"
    for sequence in body.get("stop_sequences") or ():
        if call is None and sequence and sequence in text:
            text, stop = text[: text.index(sequence)], "stop_sequence"
            break
    ident = f"msg_mock{req.seq:016d}"
    content = _thinking_blocks(body, last_user)
    thought_tokens = sum(wire.count_tokens(b.get("thinking", "")) for b in content)
    read, written = settings.prompt_cache.use(wire.prefix_hashes(_cache_units(body)))
    usage = {"input_tokens": _prompt_tokens(body) - read - written,
             "output_tokens": thought_tokens + wire.count_tokens(orjson.dumps(call[1]).decode() if call else text),
             "cache_creation_input_tokens": written, "cache_read_input_tokens": read}
    if call is not None:
        content.append({"type": "tool_use", "id": f"toolu_mock{req.seq:016d}", "name": call[0], "input": call[1]})
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": text})
    message = {"id": ident, "type": "message", "role": "assistant", "model": body["model"], "content": content,
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
    if body.get("stream"):
        return _stream(message, settings.stream_chunks)
    return Reply(200, orjson.dumps(message), RATE_LIMIT_HEADERS)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return wire.sse_event(data, name)


def _block_events(index: int, block: dict[str, Any], pieces: int) -> list[bytes]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one block."""
    def delta(payload: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload})

    kind = block["type"]
    opening: dict[str, Any]
    if kind == "text":
        opening = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": part}) for part in wire.split_text(block["text"], pieces)]
    elif kind == "thinking":
        opening = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": part}) for part in wire.split_text(block["thinking"], pieces)]
        deltas.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    elif kind == "redacted_thinking":
        opening, deltas = block, []
    else:
        opening = {**block, "input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        deltas = [delta({"type": "input_json_delta", "partial_json": part}) for part in wire.split_text(arguments, pieces)]
    start = _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
    return [start, *deltas, _event("content_block_stop", {"type": "content_block_stop", "index": index})]


def _stream(message: dict[str, Any], pieces: int) -> StreamReply:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    chunks = [_event("message_start", {"type": "message_start", "message": start}), _event("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        chunks += _block_events(index, block, pieces)
    chunks.append(_event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                           "usage": {"output_tokens": usage["output_tokens"]}}))
    chunks.append(_event("message_stop", {"type": "message_stop"}))
    return StreamReply(chunks, headers=RATE_LIMIT_HEADERS,
                       garbage_chunk=b"event: message_start\ndata: {not json\n\n")


def count_tokens_route(req: MockRequest, settings: MockSettings) -> Reply:
    body, error = _check(req, needs_max_tokens=False)
    if error is not None:
        return error
    assert body is not None
    return Reply(200, orjson.dumps({"input_tokens": _prompt_tokens(body)}), RATE_LIMIT_HEADERS)


ROUTES = (
    Route("POST", "/v1/messages", messages, ANTHROPIC),
    Route("POST", "/v1/messages/count_tokens", count_tokens_route, ANTHROPIC),
)
