"""The Anthropic Messages API in front: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

Clients on the official ``anthropic`` SDK can use any configured model. The
request is translated once to the gateway's OpenAI format (validated like any
chat request; errors answer in Anthropic's shape, ``x-api-key`` authenticates)
and runs through the same pipeline. The original body rides along as
``ChatRequest.native = ("anthropic", body)``:

- when the deployment that serves it is an Anthropic upstream, the adapter
  forwards that body natively (only ``model`` replaced) and hands back the
  upstream's own bytes (``ChatResponse.native`` / ``Chunk.native``), which are
  sent to the client untouched — no double translation;
- otherwise the OpenAI answer is translated back (``providers.anthropic_format.front``).

A stream carries its cost the way an OpenAI stream's final usage does: its
``message_delta`` event's ``usage.cost_usd`` (US dollars, what the spend record
and the budget are charged). A native stream's ``message_delta`` is held until
the upstream's last event has given the pipeline the final usage to price (the
next event, ``message_stop``), then sent with the cost written in.

A stream that fails after its first byte ends with an Anthropic
``event: error`` frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from switchyard.core.call import Call
from switchyard.core.messages import Chunk, parse_json_body, validate_chat
from switchyard.providers.anthropic_format.front import (
    MessageStream,
    error_body,
    event,
    to_chat_body,
    to_message,
)
from switchyard.server.http import Request, Response, StreamResponse, as_stream_error, json_response
from switchyard.server.routes import Handler, RouteTable

#: Bodies this large are counted on a worker thread, not on the event loop.
OFF_LOOP_BYTES = 64 * 1024


def anthropic_error_frame(exc: BaseException) -> bytes:
    """The terminal ``event: error`` frame for a stream that broke after its first byte."""
    return b"event: error\ndata: " + orjson.dumps(error_body(as_stream_error(exc))) + b"\n\n"


_DELTA = b"event: message_delta\n"


def priced_delta(frame: bytes, cost: float | None) -> bytes:
    """A native ``message_delta`` frame with ``usage.cost_usd`` written in (as it is without a cost)."""
    if cost is None:
        return frame
    data = orjson.loads(frame[frame.index(b"data: ") + 6:])
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = data["usage"] = {}
    usage["cost_usd"] = round(cost, 10)
    return event("message_delta", data)


async def message_frames(chunks: AsyncIterator[Chunk], model: str, call: Call | None = None) -> AsyncIterator[bytes]:
    """Anthropic SSE frames for a stream: native frames as they came, else translated; the
    ``message_delta`` carries the answer's cost (``call.cost``, priced by the pipeline)."""
    translator = MessageStream(model)
    translated = False
    held: bytes | None = None  # a native message_delta, until the final usage is priced
    try:
        async for chunk in chunks:
            native = chunk.native
            if native is not None:
                if held is not None:  # the event after it: the pipeline has priced the final usage
                    yield priced_delta(held, call.cost if call is not None else None)
                    held = None
                if native.startswith(_DELTA):
                    held = native
                else:
                    yield native
                continue
            translated = True
            for frame in translator.feed(chunk.data if chunk.raw is None else chunk.json(), chunk.usage):
                yield frame
        if held is not None:
            yield priced_delta(held, call.cost if call is not None else None)
        if translated:
            for frame in translator.finish(call.cost if call is not None else None):
                yield frame
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def add_anthropic_routes(table: RouteTable, app: Any) -> None:
    async def messages(request: Request) -> Response | StreamResponse:
        body = parse_json_body(request.body)
        chat = validate_chat(to_chat_body(body))
        chat.native = ("anthropic", body)
        call = request.call = Call(request.request_id, caller=request.caller, headers=request.headers,
                    client_gone=request.client_gone)
        pipeline = app.services.pipeline
        if chat.stream:
            chunks = await pipeline.stream(chat, call)
            return StreamResponse(message_frames(chunks, chat.model, call), headers=call.outgoing_headers(),
                                  error_frame=anthropic_error_frame, done=None)
        result = await pipeline.chat(chat, call)
        payload = result.native if result.native is not None else orjson.dumps(to_message(result.body, chat.model, result.usage))
        return Response(200, payload, call.outgoing_headers())

    async def count_tokens(request: Request) -> Response:
        body = parse_json_body(request.body)
        chat = validate_chat(to_chat_body({"max_tokens": 1, **body}))
        group = app.services.catalog.resolve(chat.model)
        if request.caller is not None:
            request.caller.check_model(group.alias)
        count = app.services.tokens.count_messages
        if len(request.body) < OFF_LOOP_BYTES:
            tokens = count(chat.messages, chat.body.get("tools"))
        else:  # a large prompt takes the tokenizer long enough to stall every other request
            tokens = await asyncio.to_thread(count, chat.messages, chat.body.get("tools"))
        return json_response({"input_tokens": tokens})

    table.add("POST", "/v1/messages", Handler(messages, error_body=error_body))
    table.add("POST", "/v1/messages/count_tokens", Handler(count_tokens, error_body=error_body))
