"""``POST /v1/retrieve``: search a retrieval pipeline, or ask it (``"answer": true``).

Registered only when the config has ``retrieval:`` — a gateway without it has
no such route and does no work for it. The body::

    {"pipeline": "handbook", "query": "...", "k": 5, "where": {"source": "travel.md"},
     "rerank": true, "answer": false, "namespace": "..."}

``pipeline`` may be left out when the config names one. The answer is
``{"object": "list", "data": [{id, document, text, metadata, score}...]}``, or
with ``answer: true`` ``{"object": "retrieval.answer", "answer": ..., "citations":
[...]}``. A caller of a tenant searches its tenant's namespace (``namespace`` in
the body is then refused unless it names that one). Pipelines are built on first
use and closed with the app; at most ``retrieval.max_in_flight`` requests run
at once (beyond: 429).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from switchyard.core.errors import InvalidRequest, PermissionDenied, RateLimited, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable

log = logging.getLogger("switchyard.retrieval")

FIELDS = frozenset(("pipeline", "query", "k", "where", "rerank", "answer", "namespace"))
MAX_QUERY_CHARS = 8000


class Retrieval:
    """The app's retrieval pipelines, built on first use, closed with the app."""

    def __init__(self, app: Any) -> None:
        from switchyard.components.gateway import PipelineClient

        self.app = app
        self.config = app.config.retrieval
        self.client = PipelineClient(lambda: app.services, app.request_ids)
        self._built: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._in_flight = 0

    async def pipeline(self, name: str | None) -> Any:
        names = self.config.pipelines
        if name is None:
            if len(names) != 1:
                raise InvalidRequest(f"Name the pipeline: one of {', '.join(sorted(names))}.", param="pipeline")
            name = next(iter(names))
        if name not in names:
            raise InvalidRequest(f"No retrieval pipeline {name[:64]!r}; known: {', '.join(sorted(names))}.",
                                 param="pipeline")
        built = self._built.get(name)
        if built is None:
            async with self._lock:
                built = self._built.get(name)
                if built is None:
                    from switchyard.components.pipelines import RetrievalPipeline

                    try:
                        built = await asyncio.to_thread(RetrievalPipeline.load, names[name], client=self.client)
                    except InvalidRequest as exc:  # the pipeline's file is wrong: the operator's to fix
                        log.error("retrieval pipeline %s cannot be built: %s", name, exc.message)
                        raise ServiceUnavailable(f"Retrieval pipeline {name!r} cannot be built: {exc.message}",
                                                 code="service_unavailable") from None
                    self._built[name] = built
        return built

    def admit(self) -> None:
        if self._in_flight >= self.config.max_in_flight:
            raise RateLimited(f"{self._in_flight} retrieval requests are being served; retry shortly.")
        self._in_flight += 1

    def leave(self) -> None:
        self._in_flight -= 1

    async def aclose(self) -> None:
        built, self._built = self._built, {}
        for pipeline in built.values():
            await pipeline.aclose()


def parse_body(raw: bytes) -> dict[str, Any]:
    body = parse_json_body(raw)
    for name in body:
        if name not in FIELDS:
            raise InvalidRequest(f"Unknown field {name[:64]!r}; known: {', '.join(sorted(FIELDS))}.",
                                 param=str(name)[:64])
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequest("query must be a non-empty string.", param="query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidRequest(f"query is longer than {MAX_QUERY_CHARS} characters.", param="query")
    k = body.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100):
        raise InvalidRequest("k must be an integer from 1 to 100.", param="k")
    where = body.get("where")
    if where is not None:
        scalar = (str, int, float, bool)
        if not isinstance(where, dict) or not all(
                isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))
                for v in where.values()):
            raise InvalidRequest("where must map metadata keys to a value or a list of values.", param="where")
    for flag in ("rerank", "answer"):
        if flag in body and not isinstance(body[flag], bool):
            raise InvalidRequest(f"{flag} must be true or false.", param=flag)
    for name in ("pipeline", "namespace"):
        if name in body and (not isinstance(body[name], str) or not body[name] or len(body[name]) > 200):
            raise InvalidRequest(f"{name} must be a string of 1 to 200 characters.", param=name)
    return body


def namespace_for(caller: Any, asked: str | None, default: str) -> str:
    """The caller's tenant's namespace; another is refused. Without a tenant: as asked, else the default."""
    tenant = getattr(caller, "tenant", None) if caller is not None else None
    if tenant:
        if asked is not None and asked != tenant:
            raise PermissionDenied(f"A key of tenant {tenant!r} searches namespace {tenant!r} only.",
                                   code="forbidden", param="namespace")
        return str(tenant)
    return asked or default


def add_retrieval_routes(table: RouteTable, app: Any) -> None:
    if getattr(getattr(app, "config", None), "retrieval", None) is None:
        return
    from switchyard.components.gateway import as_caller

    retrieval = app.retrieval = Retrieval(app)

    async def retrieve(request: Request) -> Response:
        body = parse_body(request.body)
        retrieval.admit()
        try:
            pipeline = await retrieval.pipeline(body.get("pipeline"))
            namespace = namespace_for(request.caller, body.get("namespace"), pipeline.spec.namespace)
            with as_caller(request.caller):
                if body.get("answer"):
                    answer = await pipeline.ask(body["query"], namespace=namespace, where=body.get("where"))
                    return json_response({"object": "retrieval.answer", "pipeline": pipeline.spec.name,
                                          "namespace": namespace, **answer.to_json()})
                hits = await pipeline.retrieve(body["query"], k=body.get("k"), namespace=namespace,
                                               where=body.get("where"), rerank=body.get("rerank", True))
        finally:
            retrieval.leave()
        return json_response({"object": "list", "pipeline": pipeline.spec.name, "namespace": namespace,
                              "data": [h.to_json() for h in hits]})

    table.add("POST", "/v1/retrieve", Handler(retrieve))
