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
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import InvalidRequest, UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse, Usage
from switchyard.providers import bedrock_format as wire
from switchyard.providers.base import Provider
from switchyard.providers.eventstream import EventStreamDecoder
from switchyard.providers.sigv4 import Credentials, Signer
from switchyard.providers.upstream_json import json_object

DEFAULT_REGION = "us-east-1"


def _option(deployment: DeploymentConfig, name: str, env: str) -> str | None:
    value = deployment.options.get(name)
    if value is not None:
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return os.environ.get(env) or None


class BedrockProvider(Provider):
    """``model`` is the Bedrock model id or inference profile (``anthropic.claude-3-5-sonnet-20240620-v1:0``)."""

    name: ClassVar[str] = "bedrock"
    env_key: ClassVar[str | None] = "AWS_BEARER_TOKEN_BEDROCK"

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
        self.extra = {k.lower(): v for k, v in deployment.headers.items()}
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

    def _headers(self, path: str, body: bytes, accept: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept, **self.extra}
        if self.signer is not None:
            return self.signer.sign("POST", self.host, path, headers, body)
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    def _timeout(self, call: Call) -> float:
        timeout = self.deployment.timeouts.request
        remaining = call.remaining()
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    async def _post(self, operation: str, body: dict[str, Any], call: Call, model_path: str | None = None) -> Any:
        path = f"{self.prefix}/model/{model_path or self.model_path}/{operation}"
        payload = orjson.dumps(body)
        response = await self.http.request(
            "POST", f"{self.base_url}/model/{model_path or self.model_path}/{operation}",
            headers=self._headers(path, payload, "application/json"), body=payload, timeout=self._timeout(call),
        )
        if response.status >= 300:
            raise wire.parse_error(response.status, response.content, response.headers.get)
        return response

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        response = await self._post("converse", wire.build_converse(request), call)
        request_id = response.headers.get("x-amzn-requestid")
        result = wire.parse_converse(response.content, self.deployment.model, request_id=request_id)
        if request_id:
            result.headers = {"x-request-id": request_id}
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = wire.build_converse(request)
        path = f"{self.prefix}/model/{self.model_path}/converse-stream"
        payload = orjson.dumps(body)
        context = self.http.stream(
            "POST", f"{self.base_url}/model/{self.model_path}/converse-stream",
            headers=self._headers(path, payload, "application/vnd.amazon.eventstream"),
            body=payload, timeout=self._timeout(call),
        )
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise wire.parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        translator = wire.StreamTranslator(
            self.deployment.model, hide_usage=not request.include_usage,
            json_mode=wire.json_schema_of(request.body) is not None,
        )
        return self._chunks(context, response, translator)

    async def _chunks(self, context: Any, response: Any, translator: wire.StreamTranslator) -> AsyncIterator[Chunk]:
        decoder = EventStreamDecoder()
        try:
            async for data in response.aiter_bytes(idle_timeout=self.deployment.timeouts.idle):
                for message in decoder.feed(data):
                    chunk = translator.translate(message)
                    if chunk is not None:
                        yield chunk
            if not translator.done:
                raise UpstreamProtocolError("Bedrock stream ended before messageStop")
        finally:
            await context.__aexit__(None, None, None)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        """InvokeModel for Titan (one text a call) and Cohere (a list a call) embedding models."""
        texts = [t if isinstance(t, str) else None for t in request.inputs]
        if any(t is None for t in texts):
            raise InvalidRequest("Bedrock embeddings take text input, not token arrays", param="input")
        model = self.deployment.model
        dimensions = request.body.get("dimensions")
        if model.startswith("cohere.") or ".cohere." in model:
            body: dict[str, Any] = {"texts": texts, "input_type": self.deployment.options.get("input_type", "search_document")}
            response = await self._post("invoke", body, call)
            vectors = json_object(response.content, "Bedrock returned").get("embeddings")
            tokens = int(response.headers.get("x-amzn-bedrock-input-token-count") or 0)
        else:
            async def one(text: str) -> tuple[list[float], int]:
                body = {"inputText": text, **({"dimensions": dimensions} if dimensions else {})}
                data = json_object((await self._post("invoke", body, call)).content, "Bedrock returned")
                return data.get("embedding"), int(data.get("inputTextTokenCount") or 0)

            results = await asyncio.gather(*(one(t) for t in texts))  # type: ignore[arg-type]
            vectors = [v for v, _ in results]
            tokens = sum(n for _, n in results)
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise UpstreamProtocolError("Bedrock returned an embedding answer without one vector per input")
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        out = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return EmbeddingResponse(body=out, usage=Usage(prompt_tokens=tokens))

