"""OpenAI's Responses API in front: ``POST /v1/responses``, ``GET`` and ``DELETE
/v1/responses/{id}``, ``GET /v1/responses/{id}/input_items``.

A request is translated once into a chat request (``responses/request.py``) and runs
through the same pipeline as ``/v1/chat/completions`` — keys, budgets, limits,
routing, fallbacks, spend, metrics apply unchanged — for every provider (OpenAI-format
upstreams get the chat request too: nothing is forwarded to an upstream's own
``/v1/responses``). The answer is translated back (``responses/answer.py``), a stream
into OpenAI's event sequence (``responses/events.py``).

With ``store`` (the default) the response, its input items and the conversation
before them are kept (``responses/store.py``) under the caller's scope: its tenant,
else its key. ``previous_response_id`` of another scope, or expired, is a 404
``response_not_found``, as is any read of one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson

from switchyard.core.call import Call
from switchyard.core.errors import InvalidRequest, NotFound, to_openai_body
from switchyard.core.messages import Chunk, Usage, parse_json_body, validate_chat
from switchyard.responses.answer import from_chat, shell
from switchyard.responses.events import ResponseEvents, frame
from switchyard.responses.request import ResponsesRequest, new_id, parse, to_chat_body
from switchyard.responses.store import ResponseStore, StoredResponse
from switchyard.server.http import Request, Response, StreamResponse, as_stream_error, json_response
from switchyard.server.routes import Handler, RouteTable

#: ``GET .../input_items``: the query parameters and the page size bounds.
_LIST_PARAMS = frozenset(("limit", "order", "after", "include"))
MAX_PAGE = 100


def scope_of(caller: Any) -> str:
    """Whose responses a caller sees: its tenant's, else its own key's ("" with auth off)."""
    if caller is None:
        return ""
    tenant = caller.tenant_id or caller.tenant
    if tenant:
        return f"tenant:{tenant}"
    return f"key:{caller.key_id or caller.name}"


def not_found(response_id: str, param: str | None = None) -> NotFound:
    return NotFound(f"No response with id {response_id!r} found.", param=param, code="response_not_found")


def _chat_body(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = result.body if result.body else orjson.loads(result.raw or b"{}")
    return body


async def _store(store: ResponseStore, request: ResponsesRequest, response: dict[str, Any], scope: str,
                 context: list[dict[str, Any]]) -> None:
    await store.put(StoredResponse(response["id"], scope, response, request.items, context, time.time()))


class _Stream:
    """The SSE frames of one streamed response; stores it before ``response.completed``."""

    def __init__(self, request: ResponsesRequest, events: ResponseEvents, store: ResponseStore | None,
                 scope: str, context: list[dict[str, Any]]) -> None:
        self.request, self.events, self.store, self.scope, self.context = request, events, store, scope, context

    async def frames(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
        events = self.events
        usage: Usage | None = None
        try:
            yield b"".join(frame(e) for e in events.start())
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.data is None and chunk.raw is None:
                    continue
                out = events.feed(chunk.json())
                if out:
                    yield b"".join(frame(e) for e in out)
            last = events.finish(usage)
            if self.store is not None:
                await _store(self.store, self.request, events.response, self.scope, self.context)
            yield b"".join(frame(e) for e in last)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    def error_frame(self, exc: BaseException) -> bytes:
        return b"".join(frame(e) for e in self.events.fail(to_openai_body(as_stream_error(exc))["error"]))


def _list_query(raw: bytes) -> tuple[int, str, str | None]:
    try:
        params = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The query string is not valid.", param="query") from None
    for name in params:
        if name not in _LIST_PARAMS and name != "include[]":
            raise InvalidRequest(f"Unknown query parameter {name[:64]!r}; known: limit, order, after, include.",
                                 param=name[:64], code="invalid_value")
    one = {k: v[0] for k, v in params.items()}
    try:
        limit = int(one.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("Query parameter limit must be an integer.", param="limit", code="invalid_value") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"Query parameter limit must be between 1 and {MAX_PAGE}.", param="limit",
                             code="invalid_value")
    order = one.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Query parameter order must be asc or desc.", param="order", code="invalid_value")
    return limit, order, one.get("after")


def _page(items: list[dict[str, Any]], limit: int, order: str, after: str | None) -> dict[str, Any]:
    ordered = items if order == "asc" else items[::-1]
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequest(f"No input item with id {after!r} in this response.", param="after",
                                 code="invalid_value")
        ordered = ordered[ids.index(after) + 1:]
    data = ordered[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(ordered) > limit}


def add_responses_routes(table: RouteTable, app: Any) -> None:
    def store() -> ResponseStore:
        responses: ResponseStore = app.services.responses
        return responses

    async def create(request: Request) -> Response | StreamResponse:
        parsed = parse(parse_json_body(request.body))
        scope = scope_of(request.caller)
        context: list[dict[str, Any]] = []
        if parsed.previous_response_id is not None:
            previous = await store().get(parsed.previous_response_id, scope)
            if previous is None:
                raise not_found(parsed.previous_response_id, "previous_response_id")
            context = previous.conversation()
        chat = validate_chat(to_chat_body(parsed, context))
        call = request.call = Call(request.request_id, caller=request.caller, headers=request.headers,
                                   client_gone=request.client_gone)
        pipeline = app.services.pipeline
        response_id = new_id("resp")
        keep = store() if parsed.store else None
        if parsed.stream:
            chunks = await pipeline.stream(chat, call)
            stream = _Stream(parsed, ResponseEvents(shell(parsed, response_id)), keep, scope, context)
            return StreamResponse(stream.frames(chunks), headers=call.outgoing_headers(),
                                  error_frame=stream.error_frame, done=None)
        result = await pipeline.chat(chat, call)
        response = from_chat(parsed, response_id, _chat_body(result), result.usage)
        if keep is not None:
            await _store(keep, parsed, response, scope, context)
        return Response(200, orjson.dumps(response), call.outgoing_headers())

    async def read(request: Request) -> Response:
        response_id, _, rest = request.path_params["id"].partition("/")
        if rest not in ("", "input_items"):
            raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
        stored = await store().get(response_id, scope_of(request.caller))
        if stored is None:
            raise not_found(response_id)
        if rest == "input_items":
            return json_response(_page(stored.input, *_list_query(request.query)))
        return json_response(stored.response)

    async def delete(request: Request) -> Response:
        response_id = request.path_params["id"]
        if "/" in response_id or not await store().delete(response_id, scope_of(request.caller)):
            raise not_found(response_id)
        return json_response({"id": response_id, "object": "response", "deleted": True})

    for prefix in ("/v1", ""):
        table.add("POST", f"{prefix}/responses", Handler(create))
        table.add("GET", f"{prefix}/responses/{{id}}", Handler(read, reads_body=False))
        table.add("DELETE", f"{prefix}/responses/{{id}}", Handler(delete, reads_body=False))

