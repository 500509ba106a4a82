"""The request pipeline, in the order it runs::

    resolve alias -> check caller may use it
    -> admit (limits, priority queue; reserves an estimate)    gateway/admission.py
    -> route (ordered candidates)                              routing/router.py
    -> invoke candidates in turn (fall back on errors that allow it)
    -> settle the admission ticket with the real usage

For streams, "invoke" includes the pre-first-byte window: the first chunk is
pulled before the stream is handed to the server, so a deployment that fails
before producing anything is replaced invisibly. After the first chunk, errors
reach the client as an explicit error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from switchyard.core.call import Attempt, Call  # noqa: F401  (Attempt: re-exported)
from switchyard.core.errors import (
    FallbackExhausted,
    InvalidRequest,
    SwitchyardError,
    UpstreamAuthError,
    redact_text,
)
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)
from switchyard.gateway.admission import Admission, OpenAdmission, Ticket
from switchyard.routing.catalog import Catalog, Deployment, ModelGroup
from switchyard.providers.base import CompletionModel, EmbeddingModel
from switchyard.routing.router import Router

T = TypeVar("T")


class Gateway:
    """Runs requests through the pipeline; owned by the app, one per process."""

    def __init__(self, catalog: Catalog, router: Router, admission: Admission | None = None) -> None:
        self.catalog = catalog
        self.router = router
        self.admission: Admission = admission or OpenAdmission()
        #: Alias fallbacks and the request deadline (``policies/fallback.py``), when installed.
        self.fallbacks: Any = None

    def _group(self, model: str, call: Call, request: Any = None) -> ModelGroup:
        if self.router.rules is not None and request is not None:
            model = self.router.route(model, request, call)
        group = self.catalog.resolve(model)
        if call.caller is not None:
            call.caller.check_model(group.alias)
        return group

    async def _first_success(
        self,
        group: ModelGroup,
        call: Call,
        request: Any,
        invoke: Callable[[Deployment], Awaitable[T]],
    ) -> T:
        candidates = self.router.candidates(group, request, call)
        if self.router.sticky is not None:
            candidates = await self.router.stick(group, request, call, candidates)
        track = self.router.tracker(group)
        errors: list[tuple[Deployment, SwitchyardError]] = []
        for deployment in candidates:
            started = track.begin(deployment) if track is not None else 0.0
            try:
                result = await invoke(deployment)
            except SwitchyardError as exc:
                if track is not None:
                    track.failed(deployment, started, exc.fallback)
                _scrub(exc, deployment, call)
                errors.append((deployment, exc))
                call.attempts.append(Attempt(deployment.id, exc.status, exc.message, exc))
                if not exc.fallback:
                    raise
                continue
            except BaseException:
                if track is not None:
                    track.failed(deployment, started, False)
                raise
            if track is not None:
                result = track.succeeded(deployment, started, result)
            call.route["deployment"] = deployment.id
            return result
        if len(errors) == 1:
            raise errors[0][1]
        raise FallbackExhausted.from_attempts(errors)

    async def _serve(self, group: ModelGroup, call: Call, request: Any, invoke: Callable[[Deployment], Awaitable[Any]]) -> Any:
        if self.fallbacks is None:
            return await self._first_success(group, call, request, invoke)
        return await self.fallbacks.run(lambda g: self._first_success(g, call, request, invoke), group, call)

    async def _admitted(self, group: ModelGroup, call: Call, request: Any, invoke: Callable[[Deployment], Awaitable[Any]]) -> Any:
        ticket = await self.admission.admit(request, group, call)
        try:
            result = await self._serve(group, call, request, invoke)
        except BaseException as exc:
            await ticket.settle(None)
            _carry_headers(exc, call)
            raise
        await ticket.settle(result.usage)
        return result

    async def _admitted_stream(
        self, group: ModelGroup, call: Call, request: Any, invoke: Callable[[Deployment], Awaitable[AsyncIterator[Chunk]]]
    ) -> AsyncIterator[Chunk]:
        ticket = await self.admission.admit(request, group, call)
        try:
            chunks = await self._serve(group, call, request, invoke)
        except BaseException as exc:
            await ticket.settle(None)
            _carry_headers(exc, call)
            raise
        return _settled(chunks, ticket)

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        group = self._group(request.model, call, request)
        return await self._admitted(group, call, request, lambda d: d.provider.chat(request, call))

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        group = self._group(request.model, call, request)

        async def open_primed(deployment: Deployment) -> AsyncIterator[Chunk]:
            chunks = await deployment.provider.stream(request, call)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                return _replay(None, chunks, deployment)
            except BaseException:
                await chunks.aclose()
                raise
            return _replay(first, chunks, deployment)

        return await self._admitted_stream(group, call, request, open_primed)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        group = self._group(request.model, call, request)
        _require(group, EmbeddingModel, "embeddings")
        return await self._admitted(group, call, request, lambda d: d.provider.embed(request, call))

    async def complete(self, request: CompletionRequest, call: Call) -> ChatResponse:
        group = self._group(request.model, call, request)
        _require(group, CompletionModel, "legacy completions")
        return await self._admitted(group, call, request, lambda d: d.provider.complete(request, call))

    async def stream_complete(self, request: CompletionRequest, call: Call) -> AsyncIterator[Chunk]:
        group = self._group(request.model, call, request)
        _require(group, CompletionModel, "legacy completions")
        async def open_stream(deployment: Deployment) -> AsyncIterator[Chunk]:
            return _replay(None, await deployment.provider.stream_complete(request, call), deployment)

        return await self._admitted_stream(group, call, request, open_stream)


def _require(group: ModelGroup, ability: type, what: str) -> None:
    if not any(isinstance(d.provider, ability) for d in group.deployments):
        raise InvalidRequest(f"The model `{group.alias}` does not support {what}.", param="model",
                             code="capability_missing")


def _scrub(exc: SwitchyardError, deployment: Deployment, call: Call) -> None:
    """Blank the deployment's secrets out of its error and of the attempts its
    retries recorded; name the deployment when its credentials were refused."""
    secrets = _credentials(deployment)
    if isinstance(exc, UpstreamAuthError):
        exc.for_deployment(deployment.id, secrets)
    else:
        exc.redact(secrets)
    for attempt in call.attempts:
        if attempt.deployment == deployment.id:
            attempt.reason = redact_text(attempt.reason, secrets)
            if isinstance(attempt.error, SwitchyardError):
                attempt.error.redact(secrets)


def _credentials(deployment: Deployment) -> list[str]:
    """The secrets a deployment sends upstream (its key, its configured header
    values), to blank out of an upstream's error message."""
    secrets = [getattr(deployment.adapter, "api_key", None) or ""]
    for value in deployment.config.headers.values():
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        secrets.extend((text, text.rsplit(" ", 1)[-1]))  # "Bearer <token>": the token alone too
    return secrets


def _carry_headers(exc: BaseException, call: Call) -> None:
    """An error answer keeps the headers the stages set (rate-limit state)."""
    if call.response_headers and isinstance(exc, SwitchyardError):
        for name, value in call.response_headers.items():
            exc.headers.setdefault(name, value)


async def _settled(chunks: AsyncIterator[Chunk], ticket: Ticket) -> AsyncIterator[Chunk]:
    """Shows the ticket every chunk; settles it with the stream's usage at the end."""
    usage: Usage | None = None
    try:
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
            ticket.observe(chunk)
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
        await ticket.settle(usage)


async def _replay(first: Chunk | None, rest: AsyncIterator[Chunk], deployment: Deployment) -> AsyncIterator[Chunk]:
    """The stream from its first chunk on; an error after it leaves without the
    deployment's secrets (the client sees it as the stream's error event)."""
    try:
        if first is not None:
            yield first
        async for chunk in rest:
            yield chunk
    except SwitchyardError as exc:
        raise exc.redact(_credentials(deployment)) from None
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
