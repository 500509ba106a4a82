"""``GET /openapi.json``: the HTTP surface described from the models that check it.

The OpenAI-compatible routes: request bodies are the msgspec structs ``core/messages.py``
validates them with (``msgspec.json.schema_components``), so the document cannot drift from
what the gateway accepts; answers are described by the structs below, the shape the gateway
promises (OpenAI's). The admin API (``admin_openapi.py``): its pydantic payloads, query
models and directory records. Both are checked against real answers by the test suite's
schema-driven fuzz runs. Built once, on first request (the admin part's pydantic schema
generation never runs at start).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import orjson

from switchyard.core import messages
from switchyard.responses import request as responses_request
from switchyard.server.http import Request, Response
from switchyard.server.routes import Handler, RouteTable

REF = "#/components/schemas/{name}"


# -- answers -------------------------------------------------------------------------------------
class AnswerToolCallFunction(msgspec.Struct):
    name: str
    arguments: str


class AnswerToolCall(msgspec.Struct):
    id: str
    type: str
    function: AnswerToolCallFunction


class AssistantMessage(msgspec.Struct):
    role: Literal["assistant"]
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[AnswerToolCall] | None = None
    reasoning_content: str | None = None


class Choice(msgspec.Struct):
    index: int
    message: AssistantMessage
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionTokensDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatCompletion(msgspec.Struct):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None


class TextChoice(msgspec.Struct):
    index: int
    text: str
    finish_reason: str | None = None


class TextCompletion(msgspec.Struct):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextChoice]
    usage: CompletionUsage | None = None


class Embedding(msgspec.Struct):
    index: int
    object: Literal["embedding"]
    embedding: list[float] | str


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(msgspec.Struct):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None


class Model(msgspec.Struct):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(msgspec.Struct):
    object: Literal["list"]
    data: list[Model]


class ResponseUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int] | None = None
    output_tokens_details: dict[str, int] | None = None


class ResponseObject(msgspec.Struct):
    """A Responses API ``response``: ``output`` holds ``message`` and ``function_call`` items."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[dict[str, Any]]
    usage: ResponseUsage | None = None
    previous_response_id: str | None = None
    store: bool | None = None


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class Error(msgspec.Struct):
    """Every error the OpenAI surface answers with (``core/errors.py``)."""

    error: ErrorDetail


# -- the document --------------------------------------------------------------------------------
_REQUESTS = {"ChatCompletionRequest": messages._ChatSchema, "CompletionRequest": messages._CompletionSchema,
             "EmbeddingRequest": messages._EmbeddingSchema, "ResponsesRequest": responses_request._ResponsesSchema}
_ANSWERS = (ChatCompletion, TextCompletion, EmbeddingList, ModelList, Model, ResponseObject, Error)
_ERRORS = {"400": "The request is malformed; `param` names the field",
           "401": "No key, or a key the gateway does not know", "403": "This key may not do that",
           "404": "Unknown model or path", "405": "Another method than the path's",
           "408": "Headers or body slower than server.header_timeout / server.body_timeout",
           "413": "Body over server.max_body_bytes",
           "431": "Headers over server.max_header_bytes or server.max_headers",
           "429": "A limit of the gateway or of the upstream; see Retry-After",
           "502": "The upstream failed", "503": "Unavailable (breaker open, starting, stopping)",
           "504": "The upstream timed out"}


def _clean(node: Any, names: dict[str, str]) -> Any:
    """Rename the structs' private names (``_ChatSchema``) to public ones in ``$ref``s."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                value = REF.format(name=names.get(name, name))
            out[key] = _clean(value, names)
        return out
    if isinstance(node, list):
        return [_clean(item, names) for item in node]
    return node


def _errors() -> dict[str, Any]:
    ref = {"$ref": REF.format(name="Error")}
    return {status: {"description": text, "content": {"application/json": {"schema": ref}}}
            for status, text in _ERRORS.items()}


def _post(summary: str, request: str, answer: str, streams: bool | str) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": REF.format(name=answer)}}}
    if streams:
        described = streams if isinstance(streams, str) else "With `stream: true`: `data:` events, then `data: [DONE]`"
        content["text/event-stream"] = {"schema": {"type": "string"}, "description": described}
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": REF.format(name=request)}}}},
        "responses": {"200": {"description": "The answer", "content": content}, **_errors()}}}


def _read(summary: str, answer: str | None) -> dict[str, Any]:
    schema = {"$ref": REF.format(name=answer)} if answer else {"type": "object"}
    return {"summary": summary, "parameters": [{"name": "id", "in": "path", "required": True,
                                                "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The answer", "content": {"application/json": {"schema": schema}}},
                          **_errors()}}


def build_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the OpenAI-compatible surface and the admin API."""
    from switchyard.server import admin_openapi

    structs = [*_REQUESTS.values(), *_ANSWERS]
    _, components = msgspec.json.schema_components(structs, ref_template=REF)
    names = {struct.__name__: public for public, struct in _REQUESTS.items()}
    names.update({name: name.lstrip("_") for name in components if name.startswith("_") and name not in names})
    schemas = {}
    for name, schema in components.items():
        public = names.get(name, name)
        if public in schemas:
            raise ValueError(f"two structs are both called {public!r} in the OpenAPI document")
        schemas[public] = {**_clean(schema, names), "title": public}
    for name, schema in admin_openapi.schemas().items():
        if name in schemas:
            raise ValueError(f"two schemas are both called {name!r} in the OpenAPI document")
        schemas[name] = schema
    schemas["RouteRequest"] = admin_openapi.route_request_schema()
    models = {"get": {"summary": "The models (aliases) this key may use", "responses": {
        "200": {"description": "The list", "content": {"application/json": {"schema": {"$ref": REF.format(
            name="ModelList")}}}}, **_errors()}}}
    model = {"get": {"summary": "One model", "parameters": [
        {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The model", "content": {"application/json": {"schema": {
            "$ref": REF.format(name="Model")}}}}, **_errors()}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchyard", "version": version,
                 "description": "An LLM gateway: the OpenAI API in front of every provider."},
        "paths": {
            "/v1/chat/completions": _post("Chat completion", "ChatCompletionRequest", "ChatCompletion", True),
            "/v1/completions": _post("Legacy completion", "CompletionRequest", "TextCompletion", True),
            "/v1/embeddings": _post("Embeddings", "EmbeddingRequest", "EmbeddingList", False),
            "/v1/responses": _post("Create a response (OpenAI's Responses API)", "ResponsesRequest", "ResponseObject",
                                   "With `stream: true`: `event:`/`data:` events from `response.created` "
                                   "to `response.completed`"),
            "/v1/responses/{id}": {
                "get": _read("A stored response", "ResponseObject"),
                "delete": _read("Delete a stored response", None)},
            "/v1/models": models,
            "/v1/models/{model}": model,
            **admin_openapi.paths(),
        },
        "components": {"schemas": schemas, "securitySchemes": admin_openapi.SCHEMES},
        "security": [{"bearer": []}, {"apiKey": []}],
    }


class OpenAPIDocument:
    """The document's bytes, built on first use and kept."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._body: bytes | None = None

    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(build_document(self.version))
        return self._body


def add_openapi_routes(table: RouteTable, app: Any) -> None:
    from switchyard import __version__

    document = OpenAPIDocument(__version__)

    async def openapi(request: Request) -> Response:
        return Response(200, document.body(), [])

    table.add("GET", "/openapi.json", Handler(openapi, authenticated=False, reads_body=False, needs_services=False))
