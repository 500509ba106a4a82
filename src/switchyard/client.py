"""``switchyard.Client`` and ``AsyncClient``: the gateway in-process, no HTTP.

The same ``Services`` and request pipeline the HTTP server runs — routing,
fallbacks, retries, breakers, limits — called from Python::

    import switchyard

    with switchyard.Client() as client:            # the embedded default: fake/*
        reply = client.chat(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
        print(reply.text)

``config`` is a path to a YAML file, a dict shaped like one, a ``Config``, or
None for the embedded default. Requests are validated exactly as the HTTP API
validates them (``InvalidRequest`` names the field). Without ``api_key`` the
caller is trusted (the process owns the config); with one, it is authenticated
like an HTTP client and its key's tenant, limits and model allowlist apply.

``AsyncClient`` is the asyncio face (start it with ``async with`` or
``await client.start()``; the first call starts it too). ``Client`` runs an
``AsyncClient`` on a private event loop in one background thread, so it can be
used from any thread, including one that runs its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from switchyard.auth import Caller
from switchyard.core.call import Call
from switchyard.core.config import Config, load_config, parse_config
from switchyard.core.messages import (
    ChatResponse,
    Chunk,
    EmbeddingResponse,
    RerankResponse,
    validate_chat,
    validate_embedding,
    validate_rerank,
)
from switchyard.core.registry import Registry, StageRegistry
from switchyard.core.request_ids import RequestIds
from switchyard.gateway.services import Services

T = TypeVar("T")

#: The caller of an in-process client without a key: the process owns the config.
IN_PROCESS = Caller(name="in-process", is_master=True)

ConfigSource = Config | str | Path | Mapping[str, Any] | None


def config_of(source: ConfigSource) -> Config:
    """A ``Config`` from a path, a mapping, a ``Config`` or None (the embedded default)."""
    if isinstance(source, Config):
        return source
    if source is None:
        from switchyard.gateway.defaults import default_config

        return default_config()
    if isinstance(source, (str, Path)):
        return load_config(source)
    return parse_config(dict(source))


class Priced(NamedTuple):
    """An answer and its cost in US dollars (``AsyncClient.chat_priced``)."""

    response: ChatResponse
    usd: float | None


class AsyncClient:
    """The gateway's pipeline, called in-process from asyncio code."""

    def __init__(self, config: ConfigSource = None, *, api_key: str | None = None,
                 registry: Registry | None = None, stages: StageRegistry | None = None) -> None:
        self.config = config_of(config)
        self._registry = registry or Registry()
        self._stages = stages
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._caller = None if api_key else IN_PROCESS
        self._request_ids = RequestIds()
        self._services: Services | None = None
        self._starting: asyncio.Future[Services] | None = None
        self._borrowed = False

    @classmethod
    def over(cls, services: Services) -> AsyncClient:
        """A client over services already started (a gateway's own, for its flow engine): the same
        pipeline, nothing built twice; closing the client leaves them running."""
        client = cls(services.config)
        client._services, client._borrowed = services, True
        return client

    # -- lifetime -----------------------------------------------------------
    async def start(self) -> Services:
        """Build and start the services (once; concurrent callers share the start)."""
        if self._services is not None:
            return self._services
        if self._starting is None:
            self._starting = asyncio.ensure_future(Services.start(self.config, self._registry, self._stages))
        try:
            self._services = await asyncio.shield(self._starting)
        except BaseException:
            self._starting = None
            raise
        return self._services

    @property
    def services(self) -> Services | None:
        """The running services, or None before ``start`` / after ``aclose``."""
        return self._services

    async def aclose(self) -> None:
        services, self._services, self._starting = self._services, None, None
        if services is not None and not self._borrowed:
            await services.aclose()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- calls --------------------------------------------------------------
    def _call(self, services: Services, headers: Mapping[str, str] | None = None) -> Call:
        caller = self._caller
        if caller is None:  # signed in here, as the server does before a body: the pipeline skips its auth stage
            caller = services.auth.authenticate(self._headers.get("authorization"), None)
        sent = {k.lower(): v for k, v in headers.items()} if headers else {}
        sent.update(self._headers)  # the client's own credential wins
        return Call(self._request_ids(), caller=caller, headers=sent)

    @staticmethod
    def _charged(services: Services, call: Call, answer: Awaitable[T]) -> Awaitable[T]:
        """``answer``, finishing unattended if its caller leaves when the call is charged (a
        budget, a spend record): the upstream bills it anyway (``pipeline/unattended.py``)."""
        unattended = services.unattended
        if unattended is None or not (call.caller.budgets or services.spend is not None):
            return answer
        return unattended.run(answer)

    async def chat(self, *, model: str, messages: list[dict[str, Any]], headers: Mapping[str, str] | None = None,
                   **params: Any) -> ChatResponse:
        """A chat completion (any OpenAI chat parameter as a keyword; ``headers`` as an HTTP
        client's, e.g. a ``traceparent`` or ``x-session-id``)."""
        params.pop("stream", None)
        request = validate_chat({"model": model, "messages": messages, **params})
        services = await self.start()
        call = self._call(services, headers)
        return await self._charged(services, call, services.pipeline.chat(request, call))

    async def chat_priced(self, *, model: str, messages: list[dict[str, Any]], traceparent: str | None = None,
                          **params: Any) -> Priced:
        """A chat completion and what it cost: the gateway's own price of its usage at the
        deployment that answered (``usd`` is None when nothing priced it, e.g. a cached answer).
        ``traceparent`` (W3C) makes the call's spans children of the caller's (with ``tracing:``)."""
        params.pop("stream", None)
        request = validate_chat({"model": model, "messages": messages, **params})
        services = await self.start()
        call = self._call(services)
        if traceparent is not None:
            call.headers["traceparent"] = traceparent
        response = await self._charged(services, call, services.pipeline.chat(request, call))
        return Priced(response, call.cost)

    async def stream(self, *, model: str, messages: list[dict[str, Any]], headers: Mapping[str, str] | None = None,
                     **params: Any) -> AsyncIterator[Chunk]:
        """A streamed chat completion: its chunks (``chunk.text`` is the new text)."""
        body = {"model": model, "messages": messages, **params, "stream": True}
        request = validate_chat(body)
        services = await self.start()
        chunks = await services.pipeline.stream(request, self._call(services, headers))
        try:
            async for chunk in chunks:
                if chunk.data is not None or chunk.raw is not None:
                    yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def embed(self, *, model: str, input: str | list[Any], **params: Any) -> EmbeddingResponse:
        """Embeddings of ``input`` (``response.vectors``)."""
        request = validate_embedding({"model": model, "input": input, **params})
        services = await self.start()
        call = self._call(services)
        return await self._charged(services, call, services.pipeline.embed(request, call))

    async def rerank(self, *, model: str, query: str, documents: list[str], **params: Any) -> RerankResponse:
        """``documents`` ordered by their relevance to ``query`` (``response.results``: index, score)."""
        request = validate_rerank({"model": model, "query": query, "documents": documents, **params})
        services = await self.start()
        call = self._call(services)
        return await self._charged(services, call, services.pipeline.rerank(request, call))

    async def models(self) -> list[str]:
        """The model aliases this client may use."""
        services = await self.start()
        caller = self._caller or services.auth.authenticate(self._headers.get("authorization"), None)
        return caller.allowed(services.catalog.aliases())


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class Client:
    """The synchronous face: an ``AsyncClient`` on a private loop in one thread."""

    def __init__(self, config: ConfigSource = None, *, api_key: str | None = None,
                 registry: Registry | None = None, stages: StageRegistry | None = None) -> None:
        self._client = AsyncClient(config, api_key=api_key, registry=registry, stages=stages)
        self.config = self._client.config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="switchyard-client", daemon=True)
        self._thread.start()
        try:
            self._run(self._client.start())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        if self._loop.is_closed():
            if isinstance(coro, Coroutine):
                coro.close()
            raise RuntimeError("The client is closed.")
        return asyncio.run_coroutine_threadsafe(_awaited(coro), self._loop).result()

    def chat(self, *, model: str, messages: list[dict[str, Any]], **params: Any) -> ChatResponse:
        """A chat completion (any OpenAI chat parameter as a keyword)."""
        return self._run(self._client.chat(model=model, messages=messages, **params))

    def stream(self, *, model: str, messages: list[dict[str, Any]], **params: Any) -> Iterator[Chunk]:
        """A streamed chat completion, chunk by chunk (``chunk.text`` is the new text)."""
        chunks = self._client.stream(model=model, messages=messages, **params)
        try:
            while True:
                try:
                    yield self._run(chunks.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(chunks.aclose())  # type: ignore[attr-defined]

    def embed(self, *, model: str, input: str | list[Any], **params: Any) -> EmbeddingResponse:
        """Embeddings of ``input`` (``response.vectors``)."""
        return self._run(self._client.embed(model=model, input=input, **params))

    def rerank(self, *, model: str, query: str, documents: list[str], **params: Any) -> RerankResponse:
        """``documents`` ordered by their relevance to ``query`` (``response.results``)."""
        return self._run(self._client.rerank(model=model, query=query, documents=documents, **params))

    def models(self) -> list[str]:
        """The model aliases this client may use."""
        return self._run(self._client.models())

    @property
    def aio(self) -> AsyncClient:
        """The ``AsyncClient`` this client drives; use it only in what ``run`` runs."""
        return self._client

    def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` on the client's loop and return its result (the platform layer's
        sync forms: ``Agent.run_sync``)."""
        return self._run(awaitable)

    def close(self) -> None:
        """Stop the services and the client's thread; idempotent."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.aclose())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
