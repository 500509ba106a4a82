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
from switchyard.providers.anthropic_format.front import MessageStream, error_body, to_chat_body, to_message
from switchyard.server.http import Request, Response, StreamResponse, as_stream_error, json_response
from switchyard.server.routes import Handler, RouteTable

#: Bodies this large are counted on a worker thread, not on the event loop.
OFF_LOOP_BYTES = 64 * 1024


def anthropic_error_frame(exc: BaseException) -> bytes:
    """The terminal ``event: error`` frame for a stream that broke after its first byte."""
    return b"event: error\ndata: " + orjson.dumps(error_body(as_stream_error(exc))) + b"\n\n"


async def message_frames(chunks: AsyncIterator[Chunk], model: str) -> AsyncIterator[bytes]:
    """Anthropic SSE frames for a stream: native frames as they came, else translated."""
    translator = MessageStream(model)
    translated = False
    try:
        async for chunk in chunks:
            if chunk.native is not None:
                yield chunk.native
                continue
            translated = True
            for frame in translator.feed(chunk.data if chunk.raw is None else chunk.json(), chunk.usage):
                yield frame
        if translated:
            for frame in translator.finish():
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
            return StreamResponse(message_frames(chunks, chat.model), headers=call.outgoing_headers(),
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
