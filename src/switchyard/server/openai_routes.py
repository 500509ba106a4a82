"""The OpenAI API surface: chat, legacy completions, embeddings, models."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from switchyard.core.call import Call
from switchyard.core.messages import (
    EmbeddingResponse,
    parse_json_body,
    validate_chat,
    validate_completion,
    validate_embedding,
    validate_rerank,
)
from switchyard.server.http import ChunkFrames, Request, Response, StreamResponse, json_response
from switchyard.server.routes import Handler, RouteTable


def as_base64(result: EmbeddingResponse) -> EmbeddingResponse:
    """``encoding_format: base64`` kept whatever the upstream answered: vectors that came
    back as float lists are packed as OpenAI packs them (little-endian float32)."""
    if result.raw is not None and b'"embedding":[' not in result.raw.replace(b" ", b""):
        return result  # already strings: forwarded as is
    body = result.body if result.body else orjson.loads(result.raw or b"{}")
    for item in body.get("data") or ():
        vector = item.get("embedding")
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return EmbeddingResponse(body=body, usage=result.usage)


def _model_card(alias: str) -> dict[str, Any]:
    return {"id": alias, "object": "model", "created": 0, "owned_by": "switchyard"}


def add_openai_routes(table: RouteTable, app: Any) -> None:
    def new_call(request: Request) -> Call:
        call = request.call = Call(request.request_id, caller=request.caller, headers=request.headers,
                                   client_gone=request.client_gone)
        return call

    async def chat_completions(request: Request) -> Response | StreamResponse:
        chat = validate_chat(parse_json_body(request.body))
        call = new_call(request)
        pipeline = app.services.pipeline
        if chat.stream:
            chunks = await pipeline.stream(chat, call)
            return StreamResponse(ChunkFrames(chunks), headers=call.outgoing_headers())
        result = await pipeline.chat(chat, call)
        return Response(200, result.to_bytes(), call.outgoing_headers())

    async def completions(request: Request) -> Response | StreamResponse:
        legacy = validate_completion(parse_json_body(request.body))
        call = new_call(request)
        pipeline = app.services.pipeline
        if legacy.stream:
            chunks = await pipeline.stream_complete(legacy, call)
            return StreamResponse(ChunkFrames(chunks), headers=call.outgoing_headers())
        result = await pipeline.complete(legacy, call)
        return Response(200, result.to_bytes(), call.outgoing_headers())

    async def embeddings(request: Request) -> Response:
        embedding = validate_embedding(parse_json_body(request.body))
        call = new_call(request)
        result = await app.services.pipeline.embed(embedding, call)
        if embedding.body.get("encoding_format") == "base64":
            result = as_base64(result)
        return Response(200, result.to_bytes(), call.outgoing_headers())

    async def rerank(request: Request) -> Response:
        ranking = validate_rerank(parse_json_body(request.body))
        call = new_call(request)
        result = await app.services.pipeline.rerank(ranking, call)
        return Response(200, result.to_bytes(), call.outgoing_headers())

    async def list_models(request: Request) -> Response:
        aliases = app.services.catalog.aliases()
        if request.caller is not None:
            aliases = request.caller.allowed(aliases)
        return json_response({"object": "list", "data": [_model_card(a) for a in aliases]})

    async def get_model(request: Request) -> Response:
        model = request.path_params["model"]
        group = app.services.catalog.resolve(model)
        if request.caller is not None:
            request.caller.check_model(group.alias)
        return json_response(_model_card(model))

    for prefix in ("/v1", ""):
        table.add("POST", f"{prefix}/chat/completions", Handler(chat_completions))
        table.add("POST", f"{prefix}/completions", Handler(completions))
        table.add("POST", f"{prefix}/embeddings", Handler(embeddings))
        table.add("POST", f"{prefix}/rerank", Handler(rerank))
        table.add("GET", f"{prefix}/models", Handler(list_models, reads_body=False))
        table.add("GET", f"{prefix}/models/{{model}}", Handler(get_model, reads_body=False))
