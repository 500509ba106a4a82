"""resolve: which model group serves the request.

The routing rules pick the alias (``routing/rules.py``; sets the route
headers), the catalog resolves it (404 when nothing serves it), the caller's
key must be allowed to use it (403), and the group must be able to do what is
asked (embeddings, legacy completions; 400 naming the ability). The group is
left on ``call.group`` for the stages after: limits are per alias, cache keys
name it, the route stage serves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.errors import InvalidRequest
from switchyard.core.stage import Streaming, Unary
from switchyard.providers.base import CompletionModel, EmbeddingModel, RerankModel
from switchyard.routing.catalog import Catalog, ModelGroup
from switchyard.routing.router import Router

_ABILITIES: dict[Kind, tuple[type, str]] = {
    Kind.EMBED: (EmbeddingModel, "embeddings"),
    Kind.COMPLETE: (CompletionModel, "legacy completions"),
    Kind.RERANK: (RerankModel, "reranking"),
}


class Resolve:
    """Rules -> alias -> model group, checked against the caller and the ask."""

    def __init__(self, catalog: Catalog, router: Router) -> None:
        self.catalog = catalog
        self.router = router

    def group(self, call: Call, routed: str | None = None) -> ModelGroup:
        """The call's group: by the rules, or the alias a selecting rule chose (``routed``)."""
        model = call.alias = call.request.model
        if routed is not None:
            model = routed
        elif self.router.rules is not None:
            model = self.router.route(model, call.request, call)
        group = self.catalog.resolve(model)
        if call.caller is not None:
            call.caller.check_model(group.alias)
        needed = _ABILITIES.get(call.kind)
        if needed is not None and not any(isinstance(d.adapter, needed[0]) for d in group.deployments):
            raise InvalidRequest(f"The model `{group.alias}` does not support {needed[1]}.", param="model",
                                 code="capability_missing")
        return group

    # Plain functions: the work is all before the rest of the chain, so its awaitable
    # is returned as it is (one frame less per request than ``async def``).
    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        call.group = self.group(call)
        return next(call)

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]:
        call.group = self.group(call)
        return next(call)


class SelectingResolve(Resolve):
    """``Resolve`` when a routing rule selects its alias by the request's content
    (``routing/selection.py``): the choice is awaited (an embedding, a classifier call)."""

    async def selected(self, call: Call) -> ModelGroup:
        routed = await self.router.route_selected(call.request.model, call.request, call)
        return self.group(call, routed)

    async def unary(self, call: Call, next: Unary) -> Any:
        call.group = await self.selected(call)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        call.group = await self.selected(call)
        return await next(call)
