"""What the conformance suite needs to know about each adapter, as data.

Every adapter is exercised the same way: built from the registry with a
deployment pointing at the mock upstream (which speaks its wire format), called
with OpenAI-format requests, checked for OpenAI-format answers. What differs is
here: the deployment, the upstream's documented top-level request keys, and
how its native stop reasons look (checked through the adapter's pure parser).

An adapter whose provider or mock module is not in the tree yet is skipped
(``present`` is False); nothing else skips.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

KEY = "conformance-key"

#: Documented top-level keys of OpenAI's chat completions request.
OPENAI_KEYS = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "n", "stop", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "user", "metadata",
    "logprobs", "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty", "store", "reasoning_effort",
    "modalities", "audio", "prediction", "service_tier", "web_search_options", "verbosity", "safety_identifier",
    "prompt_cache_key",
})
GROQ_KEYS = OPENAI_KEYS - {"logprobs", "top_logprobs", "logit_bias"}
MISTRAL_KEYS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed", "response_format",
    "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n", "prediction", "parallel_tool_calls",
    "safe_prompt", "prompt_mode",
})
ANTHROPIC_KEYS = frozenset({
    "model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream", "temperature", "top_p",
    "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers", "output_config",
    "context_management",
})
CONVERSE_KEYS = frozenset({
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig",
})
OLLAMA_KEYS = frozenset({"model", "messages", "tools", "format", "options", "stream", "keep_alive", "think"})
GEMINI_KEYS = frozenset({
    "contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent",
    "labels",
})
#: AI21's chat completions reference (Jamba).
AI21_KEYS = frozenset({"model", "messages", "tools", "documents", "response_format", "max_tokens", "temperature",
                       "top_p", "stop", "n", "stream"})
#: Replicate's create-prediction body.
REPLICATE_KEYS = frozenset({"input", "stream", "version", "webhook", "webhook_events_filter"})
COHERE_KEYS = frozenset({
    "model", "messages", "tools", "documents", "citation_options", "response_format", "safety_mode", "max_tokens",
    "stop_sequences", "temperature", "seed", "frequency_penalty", "presence_penalty", "k", "p", "logprobs",
    "tool_choice", "stream", "strict_tools", "thinking", "priority",
})


@dataclass(frozen=True)
class Adapter:
    """One adapter under test."""

    id: str
    provider: str
    modules: tuple[str, ...]
    deployment: Callable[[Any], dict[str, Any]]
    allowed_keys: frozenset[str]
    #: OpenAI finish reason -> a native answer body (bytes) whose stop reason maps to it.
    finish_cases: Callable[[], dict[str, bytes]]
    #: The adapter's pure parser for a complete answer: bytes -> ChatResponse.
    parse: Callable[[bytes], Any]
    notes: str = ""
    #: Whether usage arrives in streams through the mock (Mistral reports it unasked
    #: in its last chunk; the OpenAI-format mock standing in for it only when asked).
    stream_usage: bool = True
    #: Whether the upstream calls tools (Replicate's prompt-in, text-out models do not: the router
    #: refuses tools for them before any call, so the tool tests do not run over it).
    tools: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


def _openai_parse(raw: bytes) -> Any:
    from switchyard.providers.openai_format import parse_chat

    return parse_chat(raw)


def _openai_finishes() -> dict[str, bytes]:
    def answer(reason: str) -> bytes:
        message = {"role": "assistant", "content": "x"}
        if reason == "tool_calls":
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        return orjson.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                             "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    return {r: answer(r) for r in ("stop", "length", "tool_calls", "content_filter")}


def _openai_like(ident: str, provider: str, keys: frozenset[str] = OPENAI_KEYS, path: str = "/v1",
                 model: str = "gpt-4o-mini", **extra: Any) -> Adapter:
    return Adapter(
        id=ident, provider=provider, modules=("switchyard.providers.vendors", "switchyard.mock.openai"),
        deployment=lambda mock: {"provider": provider, "model": model, "base_url": mock.url + path, "api_key": KEY},
        allowed_keys=keys, finish_cases=_openai_finishes, parse=_openai_parse, **extra,
    )


def _replicate_finishes() -> dict[str, bytes]:
    def answer(output_tokens: int) -> bytes:
        return orjson.dumps({"id": "p1", "status": "succeeded", "output": ["x"],
                             "metrics": {"input_token_count": 1, "output_token_count": output_tokens}})

    return {"stop": answer(3), "length": answer(16)}


def _replicate_parse(raw: bytes) -> Any:
    from switchyard.providers.replicate_format import parse_prediction, to_response

    return to_response(parse_prediction(raw), "m", max_tokens=16)


def _anthropic_finishes() -> dict[str, bytes]:
    def answer(reason: str) -> bytes:
        content: list[dict[str, Any]] = [{"type": "text", "text": "x"}]
        if reason == "tool_use":
            content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
        return orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": content,
                             "stop_reason": reason, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}})

    return {"stop": answer("end_turn"), "length": answer("max_tokens"), "tool_calls": answer("tool_use"),
            "content_filter": answer("refusal")}


def _anthropic_parse(raw: bytes) -> Any:
    from switchyard.providers.anthropic_format.upstream import parse_message

    return parse_message(raw)


def _bedrock_finishes() -> dict[str, bytes]:
    def answer(reason: str) -> bytes:
        content: list[dict[str, Any]] = [{"text": "x"}]
        if reason == "tool_use":
            content = [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]
        return orjson.dumps({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": reason,
                             "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}})

    return {"stop": answer("end_turn"), "length": answer("max_tokens"), "tool_calls": answer("tool_use"),
            "content_filter": answer("guardrail_intervened")}


def _bedrock_parse(raw: bytes) -> Any:
    from switchyard.providers.bedrock_format import parse_converse

    return parse_converse(raw, "m")


def _ollama_finishes() -> dict[str, bytes]:
    def answer(reason: str, calls: bool = False) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": "" if calls else "x"}
        if calls:
            message["tool_calls"] = [{"function": {"name": "f", "arguments": {}}}]
        return orjson.dumps({"model": "m", "created_at": "2024-01-01T00:00:00Z", "message": message, "done": True,
                             "done_reason": reason, "prompt_eval_count": 1, "eval_count": 1})

    return {"stop": answer("stop"), "length": answer("length"), "tool_calls": answer("stop", calls=True)}


def _ollama_parse(raw: bytes) -> Any:
    from switchyard.providers.ollama_format import parse_chat

    return parse_chat(raw, "m")


def _gemini_finishes() -> dict[str, bytes]:
    def answer(reason: str, calls: bool = False) -> bytes:
        parts: list[dict[str, Any]] = [{"functionCall": {"name": "f", "args": {}}}] if calls else [{"text": "x"}]
        return orjson.dumps({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": 0}],
                             "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})

    return {"stop": answer("STOP"), "length": answer("MAX_TOKENS"), "tool_calls": answer("STOP", calls=True),
            "content_filter": answer("SAFETY")}


def _gemini_parse(raw: bytes) -> Any:
    from switchyard.providers.gemini_format import parse_response

    return parse_response(raw, "m")


@functools.cache
def _service_account_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _vertex_deployment(mock: Any) -> dict[str, Any]:
    key_file = {"type": "service_account", "project_id": "proj-1", "private_key_id": "kid1",
                "private_key": _service_account_pem(), "client_email": "gw@proj-1.iam.gserviceaccount.com",
                "token_uri": f"{mock.url}/token"}
    return {"provider": "vertex", "model": "gemini-2.0-flash", "base_url": f"{mock.url}/v1",
            "options": {"location": "europe-west4", "credentials": key_file}}


def _cohere_finishes() -> dict[str, bytes]:
    def answer(reason: str) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": [{"type": "text", "text": "x"}]}
        if reason == "TOOL_CALL":
            message = {"role": "assistant", "tool_plan": "calling f", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        return orjson.dumps({"id": "r1", "finish_reason": reason, "message": message,
                             "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 1},
                                       "tokens": {"input_tokens": 1, "output_tokens": 1}}})

    return {"stop": answer("COMPLETE"), "length": answer("MAX_TOKENS"), "tool_calls": answer("TOOL_CALL"),
            "content_filter": answer("ERROR_TOXIC")}


def _cohere_parse(raw: bytes) -> Any:
    from switchyard.providers.cohere_format import parse_response

    return parse_response(raw, "m")


ADAPTERS: list[Adapter] = [
    _openai_like("openai", "openai"),
    Adapter(
        id="azure", provider="azure", modules=("switchyard.providers.azure", "switchyard.mock.openai"),
        deployment=lambda mock: {"provider": "azure", "model": "my-gpt", "base_url": mock.url, "api_key": KEY},
        allowed_keys=OPENAI_KEYS, finish_cases=_openai_finishes, parse=_openai_parse,
    ),
    _openai_like("openai_compatible", "openai_compatible"),
    _openai_like("vllm", "vllm"),
    _openai_like("ollama-openai", "ollama"),
    _openai_like("together", "together"),
    _openai_like("groq", "groq", GROQ_KEYS),
    _openai_like("mistral", "mistral", MISTRAL_KEYS, stream_usage=False,
                 notes="stream usage unchecked: the OpenAI mock reports it only when asked, Mistral always"),
    _openai_like("deepseek", "deepseek"),
    _openai_like("fireworks", "fireworks"),
    _openai_like("openrouter", "openrouter"),
    _openai_like("huggingface", "huggingface", model="meta-llama/Llama-3.1-8B-Instruct:novita"),
    _openai_like("huggingface-endpoint", "huggingface", model="tgi",
                 notes="a dedicated Inference Endpoint (TGI): its own base_url, the OpenAI routes"),
    _openai_like("ai21", "ai21", AI21_KEYS, path="/studio/v1", model="jamba-mini"),
    _openai_like("runpod", "runpod", path="/v2/ep-conformance/openai/v1", model="meta-llama/Llama-3.1-8B-Instruct"),
    Adapter(
        id="replicate", provider="replicate", modules=("switchyard.providers.replicate", "switchyard.mock.replicate"),
        deployment=lambda mock: {"provider": "replicate", "model": "meta/meta-llama-3-8b-instruct",
                                 "base_url": mock.url + "/v1", "api_key": KEY},
        allowed_keys=REPLICATE_KEYS, finish_cases=_replicate_finishes, parse=_replicate_parse, stream_usage=False,
        tools=False, notes="no stop reason on Replicate: length when the output reached max_tokens",
    ),
    Adapter(
        id="anthropic", provider="anthropic",
        modules=("switchyard.providers.anthropic", "switchyard.mock.anthropic"),
        deployment=lambda mock: {"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": mock.url, "api_key": KEY},
        allowed_keys=ANTHROPIC_KEYS, finish_cases=_anthropic_finishes, parse=_anthropic_parse,
    ),
    Adapter(
        id="bedrock", provider="bedrock", modules=("switchyard.providers.bedrock", "switchyard.mock.bedrock"),
        deployment=lambda mock: {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
                                 "base_url": mock.url, "options": {"aws_access_key_id": KEY,
                                 "aws_secret_access_key": "secret", "aws_region": "us-east-1"}},
        allowed_keys=CONVERSE_KEYS, finish_cases=_bedrock_finishes, parse=_bedrock_parse,
    ),
    Adapter(
        id="ollama_chat", provider="ollama_chat", modules=("switchyard.providers.ollama", "switchyard.mock.ollama"),
        deployment=lambda mock: {"provider": "ollama_chat", "model": "llama3.2", "base_url": mock.url, "api_key": KEY},
        allowed_keys=OLLAMA_KEYS, finish_cases=_ollama_finishes, parse=_ollama_parse,
        notes="Ollama has no content filter, so no native reason maps to content_filter",
    ),
    Adapter(
        id="gemini", provider="gemini", modules=("switchyard.providers.gemini", "switchyard.mock.gemini"),
        deployment=lambda mock: {"provider": "gemini", "model": "gemini-2.0-flash", "base_url": f"{mock.url}/v1beta",
                                 "api_key": KEY},
        allowed_keys=GEMINI_KEYS, finish_cases=_gemini_finishes, parse=_gemini_parse,
    ),
    Adapter(
        id="vertex", provider="vertex", modules=("switchyard.providers.vertex", "switchyard.mock.gemini"),
        deployment=_vertex_deployment, allowed_keys=GEMINI_KEYS, finish_cases=_gemini_finishes, parse=_gemini_parse,
    ),
    Adapter(
        id="cohere", provider="cohere", modules=("switchyard.providers.cohere", "switchyard.mock.cohere"),
        deployment=lambda mock: {"provider": "cohere", "model": "command-r-plus", "base_url": mock.url, "api_key": KEY},
        allowed_keys=COHERE_KEYS, finish_cases=_cohere_finishes, parse=_cohere_parse,
    ),
]


def mock_formats() -> list[Any]:
    """The ROUTES of every mock wire-format module present."""
    names = ["openai", "anthropic", "bedrock", "ollama", "gemini", "vertex", "cohere", "vendors", "replicate"]
    tables = []
    for name in names:
        if importlib.util.find_spec(f"switchyard.mock.{name}") is not None:
            tables.append(importlib.import_module(f"switchyard.mock.{name}").ROUTES)
    return tables
