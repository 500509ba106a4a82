"""The unified request, response and stream types.

The lingua franca inside Switchyard is the OpenAI Chat Completions format, kept
as the plain ``dict`` the client sent: when client and upstream both speak it,
the body passes through untouched except for the fields a policy rewrites.
Other wire formats translate to and from it in their provider module.

``validate_chat`` checks the fields the gateway relies on with msgspec (about a
microsecond) and names the offending field on failure; unknown fields are kept
for the upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import orjson

from switchyard.core.errors import InvalidRequest

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


#: A model name: printable (it is echoed in headers and errors), at most 256 characters.
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


# Content parts and tools are checked down to the fields translators read, so a
# malformed body is a 400 at the edge, never a crash in a wire format. Unknown
# extra fields are kept for the upstream. ``cache_control`` (Anthropic's prompt
# caching mark, an extension clients send on parts, messages and tools) and
# ``thinking_blocks`` (signed reasoning of an earlier assistant turn) are read by
# the Anthropic and Bedrock translations, so their shape is checked here.
CacheControl = dict[str, Any]


class _TextPart(msgspec.Struct, tag_field="type", tag="text"):
    text: str
    cache_control: CacheControl | None = None


class _ImageURL(msgspec.Struct):
    url: str
    detail: str | None = None


class _ImagePart(msgspec.Struct, tag_field="type", tag="image_url"):
    image_url: _ImageURL
    cache_control: CacheControl | None = None


class _InputAudio(msgspec.Struct):
    data: str
    format: str


class _AudioPart(msgspec.Struct, tag_field="type", tag="input_audio"):
    input_audio: _InputAudio


class _File(msgspec.Struct):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class _FilePart(msgspec.Struct, tag_field="type", tag="file"):
    file: _File
    cache_control: CacheControl | None = None


class _RefusalPart(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


_Part = _TextPart | _ImagePart | _AudioPart | _FilePart | _RefusalPart


class _FunctionCall(msgspec.Struct):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct):
    function: _FunctionCall
    id: str | None = None
    type: Literal["function"] = "function"


class _ThinkingBlock(msgspec.Struct, tag_field="type", tag="thinking"):
    thinking: str
    signature: str


class _RedactedThinkingBlock(msgspec.Struct, tag_field="type", tag="redacted_thinking"):
    data: str


class _Message(msgspec.Struct):
    role: Role
    content: str | list[_Part] | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    cache_control: CacheControl | None = None
    thinking_blocks: list[_ThinkingBlock | _RedactedThinkingBlock] | None = None


class _FunctionSpec(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _FunctionTool(msgspec.Struct, tag_field="type", tag="function"):
    function: _FunctionSpec
    cache_control: CacheControl | None = None


class _CustomSpec(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    description: str | None = None


class _CustomTool(msgspec.Struct, tag_field="type", tag="custom"):
    custom: _CustomSpec


class _Thinking(msgspec.Struct):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Annotated[int, msgspec.Meta(ge=0)] | None = None


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class _Named(msgspec.Struct):
    name: str


# ``tool_choice``: a mode, or one tool by name, or a subset of the tools.
class _FunctionChoice(msgspec.Struct, tag_field="type", tag="function"):
    function: _Named


class _CustomChoice(msgspec.Struct, tag_field="type", tag="custom"):
    custom: _Named


class _AllowedTools(msgspec.Struct):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class _AllowedToolsChoice(msgspec.Struct, tag_field="type", tag="allowed_tools"):
    allowed_tools: _AllowedTools


_ToolChoice = Literal["none", "auto", "required"] | _FunctionChoice | _CustomChoice | _AllowedToolsChoice


# ``response_format``: plain text, any JSON object, or JSON matching a schema.
class _TextFormat(msgspec.Struct, tag_field="type", tag="text"):
    pass


class _JsonObjectFormat(msgspec.Struct, tag_field="type", tag="json_object"):
    pass


class _JsonSchema(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class _JsonSchemaFormat(msgspec.Struct, tag_field="type", tag="json_schema"):
    json_schema: _JsonSchema


class _Prediction(msgspec.Struct, tag_field="type", tag="content"):
    content: str | list[_TextPart]


Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]


class _ChatSchema(msgspec.Struct):
    """OpenAI's chat request as its published spec has it, plus the extensions translators
    read (``thinking``, ``cache_control``...); every field a translator reads is typed here,
    so a malformed one is a 400 naming it, never a crash in a wire format."""

    model: ModelName
    messages: Annotated[list[_Message], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    seed: int | None = None
    tools: list[_FunctionTool | _CustomTool] | None = None
    tool_choice: _ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: Annotated[list[_FunctionSpec], msgspec.Meta(min_length=1, max_length=128)] | None = None
    function_call: Literal["none", "auto"] | _Named | None = None
    response_format: _TextFormat | _JsonObjectFormat | _JsonSchemaFormat | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: _Prediction | None = None
    web_search_options: dict[str, Any] | None = None
    service_tier: str | None = None
    store: bool | None = None
    verbosity: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    #: Anthropic's ``thinking`` object, an extension for Anthropic, Bedrock and Gemini models.
    thinking: _Thinking | None = None


#: OpenAI's limit on the inputs of one embeddings request (and on a token-id list).
MAX_EMBEDDING_INPUTS = 2048
#: No embedding model has more dimensions; a larger ``dimensions`` is refused at the edge,
#: before an upstream (or the mock) is asked to build a vector that size.
MAX_EMBEDDING_DIMENSIONS = 16384


class _EmbeddingSchema(msgspec.Struct):
    model: ModelName
    # msgspec allows one array-like per union: a list of strings, token ids or token-id lists
    input: str | Annotated[list[str | int | Annotated[list[int], msgspec.Meta(min_length=1)]],
                           msgspec.Meta(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=MAX_EMBEDDING_DIMENSIONS)] | None = None
    user: str | None = None


MAX_RERANK_DOCUMENTS = 1000


class _RerankDocument(msgspec.Struct):
    text: str


class _RerankSchema(msgspec.Struct):
    """``POST /v1/rerank``, as Cohere's and Jina's rerank APIs (and vLLM's) take it."""

    model: ModelName
    query: Annotated[str, msgspec.Meta(min_length=1)]
    documents: Annotated[list[str | _RerankDocument], msgspec.Meta(min_length=1, max_length=MAX_RERANK_DOCUMENTS)]
    top_n: Annotated[int, msgspec.Meta(ge=1)] | None = None
    return_documents: bool | None = None
    user: str | None = None


class _CompletionSchema(msgspec.Struct):
    """OpenAI's legacy completions request, as its published spec has it (``prompt`` is
    required but may be null)."""

    model: ModelName
    prompt: str | list[str | int | list[int]] | None
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=0)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    best_of: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    logprobs: Annotated[int, msgspec.Meta(ge=0, le=5)] | None = None
    echo: bool | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: dict[str, int] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    suffix: str | None = None
    user: str | None = None


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be a JSON object."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = "is not valid UTF-8" if "utf-8" in str(exc).lower() else "is not valid JSON"
        raise InvalidRequest(f"Request body {reason}: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object", code="invalid_json")
    return body


def _check(body: dict[str, Any], schema: type) -> Any:
    try:
        return msgspec.convert(body, schema)
    except msgspec.ValidationError as exc:
        text = str(exc)
        head, found, where = text.rpartition(" - at `$")
        if not found:
            head, where = text, ""
        parts = [where.rstrip("`").lstrip(".").replace("[...]", "")]  # [...]: some key of a mapping
        if "missing required field `" in head:
            parts.append(head.rsplit("`", 2)[-2])  # name the missing field itself, not its parent
        param = ".".join(p for p in parts if p) or None
        raise InvalidRequest(f"Invalid request: {text}", param=param, code="invalid_value") from None


def check_fields(body: dict[str, Any], schema: type) -> Any:
    """``body`` converted to the msgspec ``schema``; InvalidRequest names the offending field
    (for the other request surfaces: the Responses API checks its bodies this way too)."""
    return _check(body, schema)


@dataclass(slots=True)
class ChatRequest:
    """A chat completion request in OpenAI format, validated.

    ``body`` is what goes upstream (after ``model`` is rewritten per deployment);
    the other attributes are read from it once so policies need not dig.
    """

    body: dict[str, Any]
    model: str
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: ``(wire format, body)`` when the client spoke another format than OpenAI
    #: (``("anthropic", {...})`` on ``/v1/messages``): an adapter of that same
    #: format forwards this body instead of translating ``body`` back; other
    #: translating adapters may read from it what the OpenAI shape cannot say
    #: (the exact thinking budget). ``with_body`` drops it, since a rewritten
    #: ``body`` is then the truth.
    native: tuple[str, dict[str, Any]] | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    def with_body(self, body: dict[str, Any]) -> ChatRequest:
        return ChatRequest(body, self.model, self.stream, self.include_usage, self.max_tokens, self.user, self.metadata)


def validate_chat(body: dict[str, Any]) -> ChatRequest:
    """Validate an OpenAI chat body; raises InvalidRequest naming the field."""
    parsed = _check(body, _ChatSchema)
    max_tokens = parsed.max_completion_tokens or parsed.max_tokens
    return ChatRequest(
        body=body,
        model=parsed.model,
        stream=bool(parsed.stream),
        include_usage=bool(parsed.stream_options and parsed.stream_options.include_usage),
        max_tokens=max_tokens,
        user=parsed.user,
        metadata=parsed.metadata or {},
    )


@dataclass(slots=True)
class EmbeddingRequest:
    body: dict[str, Any]
    model: str

    @property
    def inputs(self) -> list[Any]:
        value = self.body["input"]
        return [value] if isinstance(value, str) or (value and isinstance(value[0], int)) else list(value)


def validate_embedding(body: dict[str, Any]) -> EmbeddingRequest:
    parsed = _check(body, _EmbeddingSchema)
    inputs = parsed.input
    if isinstance(inputs, list):
        kind = type(inputs[0])
        if any(type(item) is not kind for item in inputs):
            raise InvalidRequest("Invalid request: `input` must be a string, or a list of strings, of token ids "
                                 "or of token-id lists, not a mix", param="input", code="invalid_value")
    return EmbeddingRequest(body=body, model=parsed.model)


@dataclass(slots=True)
class RerankRequest:
    """A query and the documents to order by their relevance to it."""

    body: dict[str, Any]
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    return_documents: bool = False


def validate_rerank(body: dict[str, Any]) -> RerankRequest:
    parsed = _check(body, _RerankSchema)
    documents = [d if isinstance(d, str) else d.text for d in parsed.documents]
    return RerankRequest(body=body, model=parsed.model, query=parsed.query, documents=documents, top_n=parsed.top_n,
                         return_documents=bool(parsed.return_documents))


@dataclass(slots=True)
class CompletionRequest:
    body: dict[str, Any]
    model: str
    stream: bool = False


def validate_completion(body: dict[str, Any]) -> CompletionRequest:
    parsed = _check(body, _CompletionSchema)
    return CompletionRequest(body=body, model=parsed.model, stream=bool(parsed.stream))


@dataclass(slots=True)
class Usage:
    """Token usage as the upstream reported it: the truth for accounting.

    Counted the OpenAI way, whatever the provider: ``prompt_tokens`` includes the
    prompt tokens read from and written to the provider's prompt cache, and
    ``completion_tokens`` includes reasoning tokens. The three details are None
    when the provider did not report them and 0 when it reported none:

    - ``cached_tokens``: prompt tokens read from the cache (OpenAI
      ``prompt_tokens_details.cached_tokens``);
    - ``cache_write_tokens``: prompt tokens written to the cache, which some
      providers bill above the input price (``prompt_tokens_details.cache_write_tokens``,
      the field of OpenAI's own API spec);
    - ``reasoning_tokens``: completion tokens spent reasoning
      (``completion_tokens_details.reasoning_tokens``).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def uncached_prompt_tokens(self) -> int:
        """Prompt tokens neither read from nor written to the cache (Anthropic's ``input_tokens``)."""
        return self.prompt_tokens - (self.cached_tokens or 0) - (self.cache_write_tokens or 0)

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens is not None or self.cache_write_tokens is not None:
            details: dict[str, int] = {}
            if self.cached_tokens is not None:
                details["cached_tokens"] = self.cached_tokens
            if self.cache_write_tokens is not None:
                details["cache_write_tokens"] = self.cache_write_tokens
            out["prompt_tokens_details"] = details
        if self.reasoning_tokens is not None:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out

    @classmethod
    def from_openai(cls, data: dict[str, Any] | None) -> Usage | None:
        """An OpenAI ``usage`` object. Also read: ``cache_creation_tokens`` (other gateways'
        name for cache writes) and DeepSeek's ``prompt_cache_hit_tokens`` (cache reads)."""
        if not data:
            return None
        prompt_details = data.get("prompt_tokens_details") or {}
        completion_details = data.get("completion_tokens_details") or {}
        cached = prompt_details.get("cached_tokens")
        if cached is None:
            cached = data.get("prompt_cache_hit_tokens")
        written = prompt_details.get("cache_write_tokens")
        if written is None:
            written = prompt_details.get("cache_creation_tokens")
        reasoning = completion_details.get("reasoning_tokens")
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=None if cached is None else int(cached),
            cache_write_tokens=None if written is None else int(written),
            reasoning_tokens=None if reasoning is None else int(reasoning),
        )


@dataclass(slots=True)
class ChatResponse:
    """A complete (non-streamed) answer in OpenAI ``chat.completion`` format.

    ``raw`` holds the upstream bytes when they can be forwarded unchanged.
    """

    body: dict[str, Any]
    usage: Usage | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: The upstream answer in the client's wire format, when the request was
    #: forwarded natively (see ``ChatRequest.native``); ``body`` stays OpenAI.
    native: bytes | None = None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    @property
    def text(self) -> str:
        """The first choice's message content ("" when there is none)."""
        choices = self.body.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content") or ""


@dataclass(slots=True)
class Chunk:
    """One ``chat.completion.chunk`` of a stream, as a dict, bytes, or both.

    A provider that passes bytes through sets ``raw`` and leaves ``data`` None
    unless it had to parse; ``usage`` is set on the chunk that carries it. A
    chunk with neither ``data`` nor ``raw`` carries usage for accounting only
    and is never sent.
    """

    data: dict[str, Any] | None = None
    raw: bytes | None = None
    usage: Usage | None = None
    #: Set by a provider when the next chunk is already here (same network read):
    #: the server may then write both to the client at once.
    more: bool = False
    #: The upstream event as a complete SSE frame in the client's wire format,
    #: when the request was forwarded natively (see ``ChatRequest.native``).
    native: bytes | None = None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.data)

    def json(self) -> dict[str, Any]:
        if self.data is None:
            self.data = orjson.loads(self.raw or b"{}")
        return self.data

    @property
    def text(self) -> str:
        """The first choice's new content in this chunk ("" when there is none)."""
        if self.data is None and self.raw is None:
            return ""
        choices = self.json().get("choices") or [{}]
        return (choices[0].get("delta") or {}).get("content") or ""


@dataclass(slots=True)
class RerankResponse:
    """``results``: ``{"index", "relevance_score"}`` (and ``document`` when asked), best first."""

    body: dict[str, Any]
    usage: Usage | None = None
    raw: bytes | None = None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    @property
    def results(self) -> list[dict[str, Any]]:
        body = self.body if self.body else orjson.loads(self.raw or b"{}")
        found: list[dict[str, Any]] = body.get("results") or []
        return found


def rerank_body(request: RerankRequest, scores: list[float], model: str, usage: Usage | None,
                ident: str = "") -> dict[str, Any]:
    """The gateway's rerank answer from one score per document: best first, ``top_n`` of them."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if request.top_n is not None:
        order = order[:request.top_n]
    results: list[dict[str, Any]] = []
    for index in order:
        item: dict[str, Any] = {"index": index, "relevance_score": scores[index]}
        if request.return_documents:
            item["document"] = {"text": request.documents[index]}
        results.append(item)
    body: dict[str, Any] = {"id": ident, "object": "rerank", "model": model, "results": results}
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens}
    return body


@dataclass(slots=True)
class EmbeddingResponse:
    body: dict[str, Any]
    usage: Usage | None = None
    raw: bytes | None = None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    @property
    def vectors(self) -> list[Any]:
        """The embeddings in input order (lists of floats, or base64 strings when asked for)."""
        body = self.body if self.body else orjson.loads(self.raw or b"{}")
        return [item["embedding"] for item in sorted(body.get("data") or [], key=lambda d: d.get("index", 0))]
