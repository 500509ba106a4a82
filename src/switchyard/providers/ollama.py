"""Ollama's native API (registry name ``ollama_chat``): ``/api/chat`` and ``/api/embed``.

The ``ollama`` provider is Ollama's OpenAI-compatible endpoint; this one speaks
the native API, which also takes ``format`` schemas, ``keep_alive`` and images
on every vision model. ``base_url`` is the server (default
``http://127.0.0.1:11434``, or ``OLLAMA_HOST``); ``options.keep_alive`` is sent
with every request; ``api_key`` (for a proxy in front) goes as a bearer token.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse
from switchyard.providers import ollama_format as wire
from switchyard.providers.base import Provider
from switchyard.transport.lines import LineDecoder


class OllamaChatProvider(Provider):
    name: ClassVar[str] = "ollama_chat"
    env_key: ClassVar[str | None] = "OLLAMA_API_KEY"
    default_base_url: ClassVar[str | None] = "http://127.0.0.1:11434"

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        if not deployment.base_url and os.environ.get("OLLAMA_HOST"):
            host = os.environ["OLLAMA_HOST"].rstrip("/")
            self.base_url = host if host.startswith(("http://", "https://")) else f"http://{host}"
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[:-3]
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        headers.update({k.lower(): v for k, v in deployment.headers.items()})
        self.headers = headers
        self.stream_headers = {**headers, "accept": "application/x-ndjson"}
        self.keep_alive = deployment.options.get("keep_alive")

    def _timeout(self, call: Call) -> float:
        timeout = self.deployment.timeouts.request
        remaining = call.remaining()
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    async def _post(self, path: str, body: dict[str, Any], call: Call) -> Any:
        response = await self.http.request(
            "POST", f"{self.base_url}{path}", headers=self.headers, body=orjson.dumps(body), timeout=self._timeout(call)
        )
        if response.status >= 300:
            raise wire.parse_error(response.status, response.content, response.headers.get)
        return response

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_chat(request, self.deployment.model, keep_alive=self.keep_alive)
        response = await self._post("/api/chat", body, call)
        return wire.parse_chat(response.content, self.deployment.model)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = wire.build_chat(request, self.deployment.model, keep_alive=self.keep_alive)
        context = self.http.stream(
            "POST", f"{self.base_url}/api/chat", headers=self.stream_headers, body=orjson.dumps(body),
            timeout=self._timeout(call),
        )
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise wire.parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        translator = wire.StreamTranslator(self.deployment.model, hide_usage=not request.include_usage)
        return self._chunks(context, response, translator)

    async def _chunks(self, context: Any, response: Any, translator: wire.StreamTranslator) -> AsyncIterator[Chunk]:
        lines = LineDecoder()
        try:
            async for data in response.aiter_bytes(idle_timeout=self.deployment.timeouts.idle):
                for line in lines.feed(data):
                    for chunk in translator.translate(line):
                        yield chunk
                if translator.done:
                    return
            for line in lines.flush():
                for chunk in translator.translate(line):
                    yield chunk
            if not translator.done:
                raise UpstreamProtocolError("Ollama stream ended before its final (done) line")
        finally:
            await context.__aexit__(None, None, None)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        body = wire.build_embed(request.inputs, self.deployment.model, request.body.get("dimensions"))
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        response = await self._post("/api/embed", body, call)
        return wire.parse_embed(response.content, self.deployment.model)
