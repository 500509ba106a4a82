"""The Google Gemini wire format (AI Studio and Vertex AI): pure transforms, no network.

OpenAI chat -> ``generateContent`` body: system and developer messages become
``systemInstruction``; ``user``/``assistant`` turns become ``contents`` with
roles ``user``/``model`` (consecutive turns of one role merged); images become
``inlineData`` (data URLs) or ``fileData`` (anything else); assistant
``tool_calls`` become ``functionCall`` parts and ``tool`` messages
``functionResponse`` parts (named through the call they answer); sampling
fields go to ``generationConfig``; ``response_format`` to ``responseMimeType``
and ``responseSchema`` (JSON Schema reduced to Gemini's OpenAPI subset);
``tools`` to ``functionDeclarations``; ``tool_choice`` to
``toolConfig.functionCallingConfig``; ``reasoning_effort`` (or a ``thinking``
object) to ``thinkingConfig`` with the budget of ``providers.reasoning`` and
thought summaries asked for. Fields Gemini has no use for (``user``,
``stream_options``, ``logprobs``, ``parallel_tool_calls``, ...) are not sent.

Thought parts come back as ``reasoning_content``. A function call's
``thoughtSignature`` (which Gemini wants back on the next turn) rides on the tool
call as ``extra_content.google.thought_signature``, where Google's own
OpenAI-compatible endpoint puts it, and goes back on the ``functionCall`` part.

Answers come back as ``chat.completion``; ``?alt=sse`` stream events through
``StreamDecoder``; error bodies ``{"error": {"code", "message", "status"}}``
through ``parse_error``. Schema helpers live in ``gemini_schema``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from switchyard.core.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    SwitchyardError,
    UpstreamProtocolError,
    from_upstream_status,
)
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingResponse, Usage
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.gemini_schema import to_gemini_schema
from switchyard.providers.reasoning import requested_budget
from switchyard.providers.retry_after import parse_duration, parse_retry_after
from switchyard.providers.upstream_json import error_body, json_object, no_headers

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(.*)$", re.S)
_MIME_BY_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
                "gif": "image/gif", "heic": "image/heic", "pdf": "application/pdf"}


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


# ---- request ---------------------------------------------------------------------------------

def _media_part(url: str, param: str) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise _bad("image_url.url must be a non-empty string", param)
    match = _DATA_URL.match(url)
    if match:
        return {"inlineData": {"mimeType": match.group(1) or "image/jpeg", "data": match.group(2)}}
    ext = url.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower()
    return {"fileData": {"mimeType": _MIME_BY_EXT.get(ext, "image/jpeg"), "fileUri": url}}


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media_part(str(url or ""), f"{param}[{i}].image_url.url"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}})
        elif kind == "file":
            data = (part.get("file") or {}).get("file_data")
            parts.append(_media_part(str(data or ""), f"{param}[{i}].file.file_data"))
        else:
            raise _bad(f"Content part type {kind!r} is not supported by Gemini", f"{param}[{i}].type")
    return parts


def _function_response(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _thought_signature(call: dict[str, Any]) -> str | None:
    """The Gemini thought signature a tool call carries (``extra_content.google.thought_signature``,
    the place Google's own OpenAI-compatible endpoint puts it)."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) else None


def _thinking_config(budget: int | None) -> dict[str, Any] | None:
    """A thinking budget as ``thinkingConfig``: 0 turns thinking off, any other budget
    (-1: the model's choice) also asks for thought summaries, which come back as
    ``reasoning_content``."""
    if budget is None:
        return None
    if budget == 0:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": budget, "includeThoughts": True}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    kinds: list[bool] = []

    def add(role: str, parts: list[dict[str, Any]], answers: bool = False) -> None:
        # Consecutive turns of one role merge, but tool results stay apart from user text.
        if not parts:
            return
        if contents and contents[-1]["role"] == role and kinds[-1] == answers:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
            kinds.append(answers)

    for i, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            text = shapes.text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _user_parts(message.get("content"), f"{param}.content"))
        elif role == "assistant":
            parts: list[dict[str, Any]] = [{"text": t} for t in [shapes.text_of(message.get("content"))] if t]
            for j, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                try:
                    args = orjson.loads(function.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise _bad("tool call arguments must be a JSON object",
                               f"{param}.tool_calls[{j}].function.arguments") from None
                call_names[call.get("id", "")] = function.get("name", "")
                part: dict[str, Any] = {"functionCall": {"name": function.get("name", ""), "args": args}}
                signature = _thought_signature(call)
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
            add("model", parts)
        elif role in ("tool", "function"):
            name = message.get("name") or call_names.get(message.get("tool_call_id") or "")
            if not name:
                raise _bad("tool message answers no earlier tool call", f"{param}.tool_call_id")
            response = _function_response(shapes.text_of(message.get("content")))
            add("user", [{"functionResponse": {"name": name, "response": response}}], answers=True)
    return system, contents


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if (body.get("n") or 1) > 1:
        config["candidateCount"] = body["n"]
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        config["responseMimeType"] = "application/json"
        if schema:
            config["responseSchema"] = to_gemini_schema(schema)
    return config


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _bad(f"Tool type {tool.get('type')!r} is not supported by Gemini", f"tools[{i}].type")
        function = tool.get("function") or {}
        declaration: dict[str, Any] = {"name": function.get("name", "")}
        if function.get("description"):
            declaration["description"] = function["description"]
        params = function.get("parameters")
        if params and (params.get("properties") or params.get("type") not in (None, "object")):
            declaration["parameters"] = to_gemini_schema(params)
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise _bad("tool_choice must name a function", "tool_choice.function.name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if choice not in modes:
        raise _bad(f"tool_choice {choice!r} is not one of auto, none, required", "tool_choice")
    return {"functionCallingConfig": {"mode": modes[choice]}}


def build_request(request: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` body for an OpenAI chat request (the model goes in the URL)."""
    body = request.body
    system, contents = _contents(body["messages"])
    if not contents:
        raise _bad("Gemini needs at least one user or assistant message", "messages")
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    config = _generation_config(body)
    thinking = _thinking_config(requested_budget(body, request.native))
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if config:
        out["generationConfig"] = config
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        tool_config = _tool_config(body.get("tool_choice"))
        if tool_config:
            out["toolConfig"] = tool_config
    return out


# ---- response --------------------------------------------------------------------------------

def usage_from(meta: dict[str, Any] | None) -> Usage | None:
    """``usageMetadata`` as usage. ``promptTokenCount`` already includes the cached
    content (``cachedContentTokenCount``, the cache reads); thinking tokens
    (``thoughtsTokenCount``) are outside ``candidatesTokenCount`` and count as
    completion tokens, as OpenAI's reasoning tokens do. Google leaves zero counts
    out of its JSON, so an absent count is 0; it reports no cache writes."""
    if not meta:
        return None
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        prompt_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        completion_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def _split_parts(candidate: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "functionCall" in part:
            call = part["functionCall"]
            out = {"id": call.get("id") or shapes.new_id("call_"), "type": "function",
                   "function": {"name": call.get("name", ""), "arguments": orjson.dumps(call.get("args") or {}).decode()}}
            if part.get("thoughtSignature"):
                out["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
            calls.append(out)
        elif "text" in part:
            (thoughts if part.get("thought") else text).append(part["text"])
    return "".join(text), "".join(thoughts), calls


def _finish(reason: str | None, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason or "STOP", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def _check_blocked(body: dict[str, Any]) -> None:
    reason = (body.get("promptFeedback") or {}).get("blockReason")
    if reason and not body.get("candidates"):
        raise ContentPolicyViolation(f"Gemini blocked the prompt (blockReason {reason})", code="content_policy_violation")


def parse_response(raw: bytes, model: str, *, created: int | None = None) -> ChatResponse:
    """A ``generateContent`` answer as a ``chat.completion``."""
    body = json_object(raw, "Gemini sent")
    if "error" in body:
        raise error_from_body(500, body, no_headers)
    _check_blocked(body)
    choices = []
    for i, candidate in enumerate(body.get("candidates") or ()):
        text, thoughts, calls = _split_parts(candidate)
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = thoughts
        choices.append({"index": candidate.get("index", i), "message": message, "logprobs": None,
                        "finish_reason": _finish(candidate.get("finishReason"), bool(calls))})
    if not choices:
        raise UpstreamProtocolError("Gemini answered without candidates")
    usage = usage_from(body.get("usageMetadata")) or Usage()
    ident = "chatcmpl-" + body["responseId"] if body.get("responseId") else shapes.new_id()
    out = shapes.completion(ident, model, shapes.now() if created is None else created, choices, usage)
    return ChatResponse(body=out, usage=usage)


class StreamDecoder:
    """Turns the ``data:`` of each ``?alt=sse`` event into OpenAI chunks.

    Gemini has no ``[DONE]``: the stream is over when the upstream closes it,
    after an event with a ``finishReason``. ``close()`` then yields the usage
    chunk (visible only if the client asked for usage) or raises when the
    stream ended without a finish — a truncated answer is never passed off as
    complete.
    """

    def __init__(self, model: str, *, include_usage: bool = False, created: int | None = None) -> None:
        self.chunks = shapes.ChunkMaker(shapes.new_id(), model, created)
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finished: set[int] = set()

    def feed(self, data: str) -> list[Chunk]:
        body = json_object(data, "Gemini sent")
        if "error" in body:
            raise error_from_body(int((body.get("error") or {}).get("code") or 500), body, no_headers)
        _check_blocked(body)
        if not self._started and body.get("responseId"):
            self.chunks.ident = "chatcmpl-" + body["responseId"]
        self.usage = usage_from(body.get("usageMetadata")) or self.usage
        out = []
        for position, candidate in enumerate(body.get("candidates") or ()):
            index = candidate.get("index", position)
            text, thoughts, calls = _split_parts(candidate)
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            if text:
                delta["content"] = text
            if thoughts:
                delta["reasoning_content"] = thoughts
            if calls:
                first = self._calls.get(index, 0)
                delta["tool_calls"] = [{"index": first + n, **call} for n, call in enumerate(calls)]
                self._calls[index] = first + len(calls)
            reason = candidate.get("finishReason")
            finish = _finish(reason, bool(self._calls.get(index))) if reason else None
            if len(delta) > 1 or (delta and not finish):
                out.append(self.chunks.delta(delta, None, index))
                delta = {}
            if finish:
                self._finished.add(index)
                out.append(self.chunks.delta(delta, finish, index))
        return out

    def close(self) -> list[Chunk]:
        """Called when the upstream ended the stream."""
        if not self._finished:
            raise UpstreamProtocolError("Gemini stream ended before a finishReason")
        return [self.chunks.usage(self.usage or Usage(), visible=self.include_usage)]


# ---- errors ----------------------------------------------------------------------------------

def _retry_delay(error: dict[str, Any]) -> float | None:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(str(detail.get("retryDelay", "")))
    return None


def error_from_body(status: int, body: Any, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """A Google API error ``{"error": {"code", "message", "status", "details"}}`` as a core error."""
    message, code, error = f"Gemini returned HTTP {status}", None, {}
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # the non-SSE stream form wraps errors in an array
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        message = str(error.get("message") or message)
        code = error.get("status")
    reasons = {str(d.get("reason")) for d in error.get("details") or () if isinstance(d, dict)}
    if status == 400 and ("API_KEY_INVALID" in reasons or "API key not valid" in message):
        status = 401
    if status == 400 and "exceeds the maximum number of tokens" in message:
        return ContextWindowExceeded(message, code="context_length_exceeded")
    retry_after = parse_retry_after(get_header, status)
    if retry_after is None:
        retry_after = _retry_delay(error)
    return from_upstream_status(status, message, code=str(code).lower() if code else None, retry_after=retry_after)


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    return error_from_body(status, error_body(raw), get_header)


# ---- embeddings ------------------------------------------------------------------------------

def build_embed_request(texts: list[str], model: str, body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A ``batchEmbedContents`` body (AI Studio); ``task_type`` from the body or options."""
    task = body.get("task_type") or options.get("task_type")
    requests = []
    for text in texts:
        item: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if task:
            item["taskType"] = str(task).upper()
        if body.get("dimensions"):
            item["outputDimensionality"] = body["dimensions"]
        requests.append(item)
    return {"requests": requests}


def parse_embed_response(raw: bytes, model: str, texts: list[str], encoding_format: str | None) -> EmbeddingResponse:
    """``{"embeddings": [{"values": [...]}]}`` as an OpenAI list. AI Studio reports no
    token count for embeddings, so usage is estimated at four characters a token."""
    body = json_object(raw, "Gemini sent")
    vectors = [e.get("values") or [] for e in body.get("embeddings") or ()]
    if len(vectors) != len(texts):
        raise UpstreamProtocolError("Gemini returned a different number of embeddings than inputs")
    usage = Usage(prompt_tokens=sum(max(1, (len(t) + 3) // 4) for t in texts))
    return EmbeddingResponse(body=shapes.embedding_list(vectors, model, usage, encoding_format), usage=usage)


def build_vertex_embed_request(texts: list[str], body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A Vertex ``:predict`` body for text-embedding models."""
    task = body.get("task_type") or options.get("task_type")
    instances = [{"content": t, **({"task_type": str(task).upper()} if task else {})} for t in texts]
    out: dict[str, Any] = {"instances": instances}
    if body.get("dimensions"):
        out["parameters"] = {"outputDimensionality": body["dimensions"]}
    return out


def parse_vertex_embed_response(raw: bytes, model: str, texts: list[str], encoding_format: str | None) -> EmbeddingResponse:
    body = json_object(raw, "Gemini sent")
    predictions = body.get("predictions") or []
    if len(predictions) != len(texts):
        raise UpstreamProtocolError("Vertex returned a different number of embeddings than inputs")
    vectors, tokens = [], 0
    for prediction in predictions:
        embedding = prediction.get("embeddings") or {}
        vectors.append(embedding.get("values") or [])
        tokens += int((embedding.get("statistics") or {}).get("token_count") or 0)
    usage = Usage(prompt_tokens=tokens)
    return EmbeddingResponse(body=shapes.embedding_list(vectors, model, usage, encoding_format), usage=usage)
