"""Ollama's native API (registry name ``ollama_chat``): ``/api/chat`` and ``/api/embed``.

The ``ollama`` provider is Ollama's OpenAI-compatible endpoint; this one speaks
the native API, which also takes ``format`` schemas, ``keep_alive`` and images
on every vision model. ``base_url`` is the server (default
``http://127.0.0.1:11434``, or ``OLLAMA_HOST``); ``options.keep_alive`` is sent
with every request; ``api_key`` (for a proxy in front) goes as a bearer token.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse
from switchyard.providers import ollama_format as wire
from switchyard.providers.native import NativeProvider
from switchyard.transport.lines import LineDecoder


class OllamaChatProvider(NativeProvider):
    name: ClassVar[str] = "ollama_chat"
    env_key: ClassVar[str | None] = "OLLAMA_API_KEY"
    default_base_url: ClassVar[str | None] = "http://127.0.0.1:11434"
    stream_accept: ClassVar[str] = "application/x-ndjson"
    parse_error = staticmethod(wire.parse_error)

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        if not deployment.base_url and os.environ.get("OLLAMA_HOST"):
            host = os.environ["OLLAMA_HOST"].rstrip("/")
            self.base_url = host if host.startswith(("http://", "https://")) else f"http://{host}"
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[:-3]
        self.set_headers({"authorization": f"Bearer {self.api_key}"} if self.api_key else {})
        self.keep_alive = deployment.options.get("keep_alive")

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_chat(request, self.deployment.model, keep_alive=self.keep_alive)
        response = await self._post(f"{self.base_url}/api/chat", body, call)
        return wire.parse_chat(response.content, self.deployment.model)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = wire.build_chat(request, self.deployment.model, keep_alive=self.keep_alive)
        translator = wire.StreamTranslator(self.deployment.model, hide_usage=not request.include_usage)
        return await self._open(f"{self.base_url}/api/chat", body, call, ChatLines(translator))

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        body = wire.build_embed(request.inputs, self.deployment.model, request.body.get("dimensions"))
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        response = await self._post(f"{self.base_url}/api/embed", body, call)
        return wire.parse_embed(response.content, self.deployment.model)


class ChatLines:
    """The ``StreamReader`` of ``/api/chat``: NDJSON lines through
    ``wire.StreamTranslator``, up to the ``done`` line."""

    __slots__ = ("translator", "_lines")

    def __init__(self, translator: wire.StreamTranslator) -> None:
        self.translator = translator
        self._lines = LineDecoder()

    @property
    def finished(self) -> bool:
        return self.translator.done

    def feed(self, data: bytes) -> Iterator[Chunk]:
        for line in self._lines.feed(data):
            yield from self.translator.translate(line)

    def close(self) -> Iterator[Chunk]:
        if self.translator.done:
            return
        for line in self._lines.flush():  # the last line may come without its newline
            yield from self.translator.translate(line)
        if not self.translator.done:
            raise UpstreamProtocolError("Ollama stream ended before its final (done) line")
