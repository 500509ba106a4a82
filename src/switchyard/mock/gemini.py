"""The Gemini wire format for the mock upstream: AI Studio, Vertex AI and an OAuth token endpoint.

AI Studio paths ``/v1beta/models/{model}:generateContent`` (and
``:streamGenerateContent``, SSE with ``?alt=sse`` else a JSON array,
``:batchEmbedContents``, ``:embedContent``) take ``x-goog-api-key`` (or
``?key=``). Vertex paths ``/v1/projects/{p}/locations/{l}/publishers/google/
models/{model}:generateContent`` (and ``:streamGenerateContent``, ``:predict``)
take ``Authorization: Bearer`` with a token from ``POST /token``, which
accepts a JWT-bearer assertion (claims checked, not the signature) and issues
stateless tokens that the Vertex paths verify when the mock has an
``api_key``.

Like the OpenAI mock: echoes the last user text; calls tool ``X`` when the
user says ``call X`` (or ``toolConfig`` mode ``ANY`` allows it); cuts at
``maxOutputTokens``. It rejects unknown request fields the way Google does,
and the model ``mock-stream-error`` streams two events and then an error event.

Thinking (``generationConfig.thinkingConfig``, a budget other than 0): usage
reports ``thoughtsTokenCount``; ``includeThoughts`` adds a ``thought: true`` part
first; function calls carry a ``thoughtSignature``, and (Gemini 3's rule) the
calls of the current turn must come back with it. Implicit caching: a prompt of
at least 1024 tokens whose prefix (system, tools, whole turns) was seen before
reports that prefix as ``cachedContentTokenCount`` (inside ``promptTokenCount``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qs

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_REQUEST_FIELDS = frozenset({"contents", "systemInstruction", "generationConfig", "tools", "toolConfig",
                             "safetySettings", "cachedContent", "labels"})
_CONFIG_FIELDS = frozenset({"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount",
                            "responseMimeType", "responseSchema", "responseJsonSchema", "presencePenalty",
                            "frequencyPenalty", "seed", "responseLogprobs", "logprobs", "thinkingConfig",
                            "responseModalities"})
_THINKING_FIELDS = frozenset({"thinkingBudget", "includeThoughts", "thinkingLevel"})
TOKEN_LIFETIME = 3600


def _error_body(status: int, message: str) -> bytes:
    return orjson.dumps({"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}})


class GeminiWire:
    """AI Studio: ``x-goog-api-key`` header or ``key`` query parameter; model in the path."""

    name = "gemini"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return request.headers.get("x-goog-api-key") == api_key or request.query_param("key") == api_key

    def model_of(self, request: MockRequest) -> str | None:
        return request.params.get("model")

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        return Reply(status, _error_body(status, message))


def _token_mac(secret: str, expiry: int) -> str:
    return hmac.new(secret.encode(), str(expiry).encode(), hashlib.sha256).hexdigest()[:24]


def issue_token(secret: str, now: float, lifetime: int = TOKEN_LIFETIME) -> str:
    expiry = int(now) + lifetime
    return f"ya29.mock.{expiry}.{_token_mac(secret, expiry)}"


def token_valid(token: str, secret: str, now: float) -> bool:
    parts = token.split(".")
    if len(parts) != 4 or parts[:2] != ["ya29", "mock"] or not parts[2].isdigit():
        return False
    return int(parts[2]) > now and hmac.compare_digest(parts[3], _token_mac(secret, int(parts[2])))


class VertexWire(GeminiWire):
    """Vertex AI: ``Authorization: Bearer <token from /token>``."""

    name = "vertex"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and token_valid(auth[7:], api_key, time.time())


class TokenWire(GeminiWire):
    name = "google-oauth"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return True

    def model_of(self, request: MockRequest) -> str | None:
        return None

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        return Reply(status, orjson.dumps({"error": code or "invalid_request", "error_description": message}))


GEMINI, VERTEX, TOKEN = GeminiWire(), VertexWire(), TokenWire()


def _decode_segment(segment: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def token(req: MockRequest, settings: MockSettings) -> Reply:
    """The OAuth token endpoint of a service-account key file (``token_uri``)."""
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return TOKEN.error(400, "Invalid grant_type", code="unsupported_grant_type")
    try:
        header_part, claims_part, signature = form["assertion"].split(".")
        header, claims = _decode_segment(header_part), _decode_segment(claims_part)
    except (KeyError, ValueError):
        return TOKEN.error(400, "Invalid JWT: malformed assertion", code="invalid_grant")
    now = time.time()
    problems = [
        header.get("alg") != "RS256" and "alg must be RS256",
        not signature and "missing signature",
        not claims.get("iss") and "missing iss",
        not str(claims.get("aud", "")).endswith(req.path) and "aud is not this token endpoint",
        not claims.get("scope") and "missing scope",
        not (claims.get("iat", 0) - 300 <= now < claims.get("exp", 0)) and "iat/exp do not cover now",
    ]
    problem = next((p for p in problems if p), None)
    if problem:
        return TOKEN.error(400, f"Invalid JWT: {problem}", code="invalid_grant")
    access = issue_token(settings.api_key or "", now)
    return Reply(200, orjson.dumps({"access_token": access, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}))


def _bad(message: str) -> Reply:
    return GEMINI.error(400, message)


def _check_fields(body: dict[str, Any]) -> str | None:
    for name in body:
        if name not in _REQUEST_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    for name in body.get("generationConfig") or {}:
        if name not in _CONFIG_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{name}" at \'generation_config\': Cannot find field.'
    for name in (body.get("generationConfig") or {}).get("thinkingConfig") or {}:
        if name not in _THINKING_FIELDS:
            return (f'Invalid JSON payload received. Unknown name "{name}" at '
                    "'generation_config.thinking_config': Cannot find field.")
    return None


def _call_signature(call: dict[str, Any]) -> str:
    return wire.signature(orjson.dumps(call, option=orjson.OPT_SORT_KEYS).decode())


def _signature_problem(contents: list[dict[str, Any]]) -> str | None:
    """Gemini 3's rule: with thinking on, the function calls of the current turn (the
    model turn a function response answers) must come back with their thought signature."""
    turn = len(contents) - 1
    while turn > 0 and contents[turn]["role"] == "user" and any("functionResponse" in p for p in contents[turn]["parts"]):
        turn -= 1
    if turn == len(contents) - 1 or contents[turn]["role"] != "model":
        return None  # the conversation does not end on function responses to a model turn
    for position, part in enumerate(contents[turn]["parts"]):
        if "functionCall" not in part:
            continue
        if part.get("thoughtSignature") != _call_signature(part["functionCall"]):
            name = part["functionCall"].get("name", "")
            return (f"Function call is missing a thought_signature in functionCall parts. This is required for tools "
                    f"to work correctly, and missing thought_signature may lead to degraded model performance. "
                    f"Additional data, function call `default_api:{name}` , position {position + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")
        break  # only the first call of a parallel set carries the signature
    return None


def _cached_tokens(body: dict[str, Any], settings: MockSettings) -> int:
    """Implicit caching: the longest prompt prefix (system, tools, then whole turns) seen before."""
    units: list[tuple[Any, int, bool]] = []
    for unit in [body.get("systemInstruction"), body.get("tools"), *body["contents"]]:
        if unit:
            text = " ".join(p.get("text", "") for p in unit.get("parts") or ()) if isinstance(unit, dict) else ""
            units.append((unit, wire.count_tokens(text or orjson.dumps(unit).decode()), True))
    read, _ = settings.prompt_cache.use(wire.prefix_hashes(units))
    return read


def _tool_call(body: dict[str, Any], last_user: str) -> tuple[str, dict[str, Any]] | None:
    declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    if not declarations:
        return None
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = {"NONE": "none", "ANY": "required"}.get(config.get("mode", "AUTO"), "auto")
    allowed = config.get("allowedFunctionNames") or [d["name"] for d in declarations]
    by_name = {d["name"]: d for d in declarations if d["name"] in allowed}
    chosen = wire.pick_tool(by_name, last_user, mode=mode)
    if chosen is None:
        return None
    return chosen, wire.placeholder_args(by_name[chosen].get("parameters"), any_case=True)


def generate(req: MockRequest, settings: MockSettings, *, stream: bool = False) -> Reply | StreamReply:
    body = req.json()
    problem = _check_fields(body)
    if problem:
        return _bad(problem)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return _bad("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not content.get("parts"):
            return _bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        if content.get("role") not in ("user", "model"):
            return _bad(f"* GenerateContentRequest.contents[{i}].role: Please use a valid role: user, model.")
    system = (body.get("systemInstruction") or {}).get("parts") or ()
    prompt_text = " ".join(p["text"] for c in [{"parts": system}, *contents] for p in c["parts"] if "text" in p)
    last = contents[-1]
    last_user = " ".join(p["text"] for p in last["parts"] if "text" in p) if last["role"] == "user" else ""
    config = body.get("generationConfig") or {}
    thinking = config.get("thinkingConfig") or {}
    thinks = bool(thinking) and thinking.get("thinkingBudget") != 0
    if thinks:
        problem = _signature_problem(contents)
        if problem:
            return _bad(problem)
    call = _tool_call(body, last_user)
    text, cut = wire.answer_text(settings, last_user, config.get("maxOutputTokens"), calls_tool=call is not None)
    finish = "MAX_TOKENS" if cut else "STOP"
    prompt_tokens = 3 + wire.count_tokens(prompt_text) + 258 * sum(1 for c in contents for p in c["parts"] if "inlineData" in p or "fileData" in p)
    completion_tokens = wire.count_tokens(orjson.dumps(call[1]).decode() if call else text)
    thought = wire.thought(last_user) if thinks else ""
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": completion_tokens,
             "totalTokenCount": prompt_tokens + completion_tokens}
    if thinks:  # thinking tokens are outside candidatesTokenCount, inside the total
        usage["thoughtsTokenCount"] = wire.count_tokens(thought)
        usage["totalTokenCount"] += usage["thoughtsTokenCount"]
    cached = _cached_tokens(body, settings) if prompt_tokens >= wire.MIN_CACHEABLE_TOKENS else 0
    if cached:  # Google leaves zero counts out
        usage["cachedContentTokenCount"] = cached
    model = req.params.get("model", "")
    meta = {"modelVersion": model, "responseId": f"mock{req.seq:012d}"}
    if call is not None:
        function_call = {"name": call[0], "args": call[1]}
        parts: list[dict[str, Any]] = [{"functionCall": function_call}]
        if thinks:
            parts[0]["thoughtSignature"] = _call_signature(function_call)
    else:
        parts = [{"text": text}]
    thought_parts = [{"text": thought, "thought": True}] if thinks and thinking.get("includeThoughts") else []
    if not stream:
        candidate = {"content": {"role": "model", "parts": thought_parts + parts}, "finishReason": finish, "index": 0}
        return Reply(200, orjson.dumps({"candidates": [candidate], "usageMetadata": usage, **meta}))
    pieces: list[list[dict[str, Any]]] = (
        [parts] if call is not None else [[{"text": t}] for t in wire.split_text(text, settings.stream_chunks)])
    if thought_parts:
        pieces.insert(0, thought_parts)
    events: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces):
        streamed: dict[str, Any] = {"content": {"role": "model", "parts": piece}, "index": 0}
        if i == len(pieces) - 1:
            streamed["finishReason"] = finish
        done = usage if i == len(pieces) - 1 else {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        events.append({"candidates": [streamed], "usageMetadata": done, **meta})
    if model == "mock-stream-error":
        events = events[:2] + [orjson.loads(_error_body(500, "Mock fault: error in the middle of the stream."))]
        for event in events[:2]:
            event["candidates"][0].pop("finishReason", None)
    if req.query_param("alt") == "sse":
        return StreamReply([b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events])
    return Reply(200, orjson.dumps(events))


def generate_content(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    return generate(req, settings)


def stream_generate_content(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    return generate(req, settings, stream=True)


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [" ".join(p.get("text", "") for p in (item.get("content") or {}).get("parts") or ()) for item in items]


def batch_embed_contents(req: MockRequest, settings: MockSettings) -> Reply:
    requests = req.json().get("requests")
    if not isinstance(requests, list) or not requests:
        return _bad("* BatchEmbedContentsRequest.requests: requests is not specified")
    dims = requests[0].get("outputDimensionality") or settings.embedding_dims
    return Reply(200, orjson.dumps({"embeddings": [{"values": wire.embedding_vector(t, dims)} for t in _texts(requests)]}))


def embed_content(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    dims = body.get("outputDimensionality") or settings.embedding_dims
    return Reply(200, orjson.dumps({"embedding": {"values": wire.embedding_vector(_texts([body])[0], dims)}}))


def predict(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return _bad("instances must be a non-empty list")
    dims = (body.get("parameters") or {}).get("outputDimensionality") or settings.embedding_dims
    predictions = [{"embeddings": {"values": wire.embedding_vector(i.get("content", ""), dims),
                                   "statistics": {"token_count": wire.count_tokens(i.get("content", "")), "truncated": False}}}
                   for i in instances]
    return Reply(200, orjson.dumps({"predictions": predictions}))


_VERTEX = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"

ROUTES = (
    Route("POST", "/v1beta/models/{model}:generateContent", generate_content, GEMINI),
    Route("POST", "/v1beta/models/{model}:streamGenerateContent", stream_generate_content, GEMINI),
    Route("POST", "/v1beta/models/{model}:batchEmbedContents", batch_embed_contents, GEMINI),
    Route("POST", "/v1beta/models/{model}:embedContent", embed_content, GEMINI),
    Route("POST", _VERTEX + ":generateContent", generate_content, VERTEX),
    Route("POST", _VERTEX + ":streamGenerateContent", stream_generate_content, VERTEX),
    Route("POST", _VERTEX + ":predict", predict, VERTEX),
    Route("POST", "/token", token, TOKEN),
)
