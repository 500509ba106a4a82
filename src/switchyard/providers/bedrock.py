"""AWS Bedrock Runtime: Converse, ConverseStream, and InvokeModel embeddings.

Credentials come from the deployment's ``options`` (``aws_access_key_id``,
``aws_secret_access_key``, ``aws_session_token``, ``aws_region``) or from the
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``); requests are
signed with SigV4. A Bedrock API key (``api_key`` or
``AWS_BEARER_TOKEN_BEDROCK``) is sent as a bearer token instead when no access
key is configured. ``base_url`` overrides the regional endpoint (VPC endpoints,
the mock upstream).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import InvalidRequest, UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse, Usage
from switchyard.providers import bedrock_format as wire
from switchyard.providers.eventstream import EventStreamDecoder
from switchyard.providers.native import NativeProvider
from switchyard.providers.sigv4 import Credentials, Signer
from switchyard.providers.upstream_json import json_object

DEFAULT_REGION = "us-east-1"


def _option(deployment: DeploymentConfig, name: str, env: str) -> str | None:
    value = deployment.options.get(name)
    if value is not None:
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return os.environ.get(env) or None


class BedrockProvider(NativeProvider):
    """``model`` is the Bedrock model id or inference profile (``anthropic.claude-3-5-sonnet-20240620-v1:0``)."""

    name: ClassVar[str] = "bedrock"
    env_key: ClassVar[str | None] = "AWS_BEARER_TOKEN_BEDROCK"
    stream_accept: ClassVar[str] = "application/vnd.amazon.eventstream"
    parse_error = staticmethod(wire.parse_error)
    kept_headers: ClassVar[Mapping[str, str]] = {"x-amzn-requestid": "x-request-id"}

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        self.region = (
            _option(deployment, "aws_region", "AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        )
        if not self.base_url:
            self.base_url = f"https://bedrock-runtime.{self.region}.amazonaws.com"
        parts = urlsplit(self.base_url)
        self.host = parts.netloc
        self.prefix = parts.path.rstrip("/")
        access_key = _option(deployment, "aws_access_key_id", "AWS_ACCESS_KEY_ID")
        secret = _option(deployment, "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY")
        self.signer: Signer | None = None
        if access_key and secret:
            token = _option(deployment, "aws_session_token", "AWS_SESSION_TOKEN")
            self.signer = Signer(Credentials(access_key, secret, token), self.region, "bedrock")
        self.extra = {k.lower(): v.get_secret_value() for k, v in deployment.headers.items()}
        self.model_path = quote(deployment.model, safe="")

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        has_keys = _option(deployment, "aws_access_key_id", "AWS_ACCESS_KEY_ID") and _option(
            deployment, "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"
        )
        if has_keys or deployment.api_key is not None or os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):
            return []
        return [("options.aws_access_key_id", "required: set options.aws_access_key_id and "
                 "options.aws_secret_access_key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")]

    def url(self, operation: str) -> str:
        """``{base}/model/{model id}/{operation}``."""
        return f"{self.base_url}/model/{self.model_path}/{operation}"

    async def request_headers(self, url: str, payload: bytes, *, stream: bool) -> dict[str, str]:
        """Signed with SigV4 over the path and ``payload``, else the bearer key."""
        accept = self.stream_accept if stream else "application/json"
        headers = {"content-type": "application/json", "accept": accept, **self.extra}
        if self.signer is not None:
            return self.signer.sign("POST", self.host, self.prefix + url[len(self.base_url):], headers, payload)
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        response = await self._post(self.url("converse"), wire.build_converse(request, self.deployment.model), call)
        request_id = response.headers.get("x-amzn-requestid")
        result = wire.parse_converse(response.content, self.deployment.model, request_id=request_id)
        result.headers = call.upstream_headers or {}
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        translator = wire.StreamTranslator(
            self.deployment.model, hide_usage=not request.include_usage,
            json_mode=wire.json_schema_of(request.body) is not None,
        )
        body = wire.build_converse(request, self.deployment.model)
        return await self._open(self.url("converse-stream"), body, call, ConverseEvents(translator))

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        """InvokeModel for Titan (one text a call) and Cohere (a list a call) embedding models."""
        texts = [t if isinstance(t, str) else None for t in request.inputs]
        if any(t is None for t in texts):
            raise InvalidRequest("Bedrock embeddings take text input, not token arrays", param="input")
        model = self.deployment.model
        dimensions = request.body.get("dimensions")
        if model.startswith("cohere.") or ".cohere." in model:
            body: dict[str, Any] = {"texts": texts, "input_type": self.deployment.options.get("input_type", "search_document")}
            response = await self._post(self.url("invoke"), body, call)
            vectors = json_object(response.content, "Bedrock returned").get("embeddings")
            tokens = int(response.headers.get("x-amzn-bedrock-input-token-count") or 0)
        else:
            async def one(text: str) -> tuple[list[float], int]:
                body = {"inputText": text, **({"dimensions": dimensions} if dimensions else {})}
                data = json_object((await self._post(self.url("invoke"), body, call)).content, "Bedrock returned")
                return list(data.get("embedding") or []), int(data.get("inputTextTokenCount") or 0)

            results = await asyncio.gather(*(one(t) for t in texts))  # type: ignore[arg-type]
            vectors = [v for v, _ in results]
            tokens = sum(n for _, n in results)
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise UpstreamProtocolError("Bedrock returned an embedding answer without one vector per input")
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        out = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return EmbeddingResponse(body=out, usage=Usage(prompt_tokens=tokens))


class ConverseEvents:
    """The ``StreamReader`` of ConverseStream: AWS event-stream frames through
    ``wire.StreamTranslator``. It reads to the end (``metadata``, with the usage,
    comes after ``messageStop``)."""

    __slots__ = ("translator", "_frames")
    finished = False

    def __init__(self, translator: wire.StreamTranslator) -> None:
        self.translator = translator
        self._frames = EventStreamDecoder()

    def feed(self, data: bytes) -> Iterator[Chunk]:
        for message in self._frames.feed(data):
            chunk = self.translator.translate(message)
            if chunk is not None:
                yield chunk

    def close(self) -> list[Chunk]:
        if not self.translator.done:
            raise UpstreamProtocolError("Bedrock stream ended before messageStop")
        return []
