"""Retrieval pipelines declared in YAML: components by registered name, built and wired here.

::

    name: docs
    gateway: switchyard.yaml        # the gateway config model calls go through (default: embedded)
    embedder: {use: minilm}
    index: {use: sql, url: "sqlite:///docs.db"}
    ingest:
      loader: {use: directory, include: ["**/*.md", "**/*.pdf"]}
      splitter: {use: markdown, size: 200, overlap: 20}
    retrievers:
      dense: {use: vector}
      keyword: {use: bm25}
      both: {use: hybrid, retrievers: [dense, keyword]}
    query:
      retriever: both
      k: 4
      reranker: {use: llm, alias: fake/rerank}
      answer: {alias: fake/echo}

``use`` names a component of that role in the registry (``switchyard.components``,
``role:name``); the other keys are its options. Nothing is imported from a
config but registered components. A factory is handed, besides its options, the
pipeline's parts it names as parameters: ``client`` (the ``AsyncClient``),
``embedder``, ``index``, and for a hybrid, ``retrievers`` (named ones, built
first). Named retrievers must not refer to themselves through others: the graph
is acyclic (a loop belongs to a flow, not a pipeline), checked with the path
named. Every error names the field (``query.reranker.alias``) and the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchyard.components.answer import Answer, Answerer
from switchyard.components.ingest import Ingestion, IngestReport
from switchyard.components.protocols import DEFAULT_NAMESPACE, Filter, Hit
from switchyard.core.errors import InvalidRequest
from switchyard.core.registry import ComponentRegistry

Spec = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSpec(_Strict):
    loader: Spec = Field(default_factory=lambda: {"use": "directory"})
    splitter: Spec = Field(default_factory=lambda: {"use": "tokens"})
    batch: int = Field(64, ge=1, le=4096)


class AnswerSpec(_Strict):
    alias: str = Field(min_length=1)
    k: int = Field(4, ge=1, le=100)
    fetch: int = Field(20, ge=1, le=1000)
    max_tokens: int | None = Field(None, ge=1)
    system: str | None = None


class QuerySpec(_Strict):
    retriever: str | Spec = "vector"
    k: int = Field(5, ge=1, le=1000)
    reranker: Spec | None = None
    answer: AnswerSpec | None = None


class PipelineSpec(_Strict):
    name: str = Field("default", min_length=1)
    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1)
    gateway: str | dict[str, Any] | None = None
    embedder: Spec = Field(default_factory=lambda: {"use": "minilm"})
    index: Spec = Field(default_factory=lambda: {"use": "memory"})
    ingest: IngestSpec = Field(default_factory=lambda: IngestSpec.model_validate({}))
    retrievers: dict[str, Spec] = Field(default_factory=dict)
    query: QuerySpec = Field(default_factory=lambda: QuerySpec.model_validate({}))


def parse_pipeline(source: str | Path | Mapping[str, Any]) -> PipelineSpec:
    """A ``PipelineSpec`` from a YAML file or a mapping; ``InvalidRequest`` naming the field otherwise."""
    base: Path | None = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot read it ({exc.strerror or exc})", param="pipeline") from None
        except yaml.YAMLError as exc:
            raise InvalidRequest(f"{path}: not YAML ({exc})", param="pipeline") from None
        base = path.parent
    else:
        raw = dict(source)
    if not isinstance(raw, dict):
        raise InvalidRequest("a pipeline is a mapping (name, embedder, index, ingest, query...)", param="pipeline")
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "pipeline"
        raise InvalidRequest(f"{where}: {first['msg']}", param=where) from None
    if base is not None and isinstance(spec.gateway, str) and not Path(spec.gateway).is_absolute():
        spec = spec.model_copy(update={"gateway": str(base / spec.gateway)})
    return spec


class Builder:
    """Builds components from specs by registered name, handing each the parts it asks for."""

    def __init__(self, registry: ComponentRegistry, parts: dict[str, Any]) -> None:
        self.registry = registry
        self.parts = parts

    def build(self, role: str, spec: Any, where: str, **given: Any) -> Any:
        if isinstance(spec, str):
            spec = {"use": spec}
        if not isinstance(spec, Mapping) or not isinstance(spec.get("use"), str):
            raise InvalidRequest(f"{where}: needs use: <a registered {role} name>", param=f"{where}.use")
        options = {k: v for k, v in spec.items() if k != "use"}
        try:
            factory = self.registry.component(role, spec["use"])
        except InvalidRequest as exc:
            raise InvalidRequest(f"{where}.use: {exc.message}", param=f"{where}.use") from None
        if role == "loader" and isinstance(options.get("loaders"), list):
            options["loaders"] = [self.build("loader", s, f"{where}.loaders.{i}")
                                  for i, s in enumerate(options["loaders"])]
        wanted = _keywords(factory)
        for name, part in {**self.parts, **given}.items():
            if name in options:
                raise InvalidRequest(f"{where}.{name}: set by the pipeline, not an option", param=f"{where}.{name}")
            if wanted is None or name in wanted:
                options[name] = part
        try:
            return factory(**options)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{where}.{exc.param or 'options'}: {exc.message}",
                                 param=f"{where}.{exc.param or 'options'}") from None
        except TypeError as exc:  # an option the component does not take, or one it needs
            raise InvalidRequest(f"{where}: {exc}", param=where) from None


def _keywords(factory: Callable[..., Any]) -> set[str] | None:
    """The parameter names ``factory`` declares (a ``**options`` catch-all is not asking for the
    pipeline's parts); None when it has no signature to read."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}


def retriever_order(named: Mapping[str, Spec]) -> list[str]:
    """Named retrievers in build order (each after those it fuses); a cycle is an error naming it."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            raise InvalidRequest(f"retrievers: {' -> '.join([*path, name])} is a cycle; a pipeline is acyclic",
                                 param=f"retrievers.{name}")
        state[name] = "open"
        for ref in named[name].get("retrievers") or []:
            if isinstance(ref, str) and ref in named:
                visit(ref, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in named:
        visit(name, [])
    return order


class RetrievalPipeline:
    """An ingestion pipeline and a query pipeline built from one spec; owns its client unless given one."""

    def __init__(self, spec: PipelineSpec, *, client: Any = None, registry: ComponentRegistry | None = None) -> None:
        from switchyard.client import AsyncClient

        self.spec = spec
        self.registry = registry or ComponentRegistry()
        self._owns_client = client is None
        self.client = client if client is not None else AsyncClient(spec.gateway)
        builder = Builder(self.registry, {"client": self.client})
        self.embedder = builder.build("embedder", spec.embedder, "embedder")
        self.index = builder.build("index", spec.index, "index")
        builder.parts.update(embedder=self.embedder, index=self.index)
        self.ingestion = Ingestion(loader=builder.build("loader", spec.ingest.loader, "ingest.loader"),
                                   splitter=builder.build("splitter", spec.ingest.splitter, "ingest.splitter"),
                                   embedder=self.embedder, index=self.index, batch=spec.ingest.batch)
        self.retrievers: dict[str, Any] = {}
        for name in retriever_order(spec.retrievers):
            self.retrievers[name] = self._retriever(builder, spec.retrievers[name], f"retrievers.{name}")
        self.retriever = self._retriever(builder, spec.query.retriever, "query.retriever")
        self.reranker = (builder.build("reranker", spec.query.reranker, "query.reranker")
                         if spec.query.reranker is not None else None)
        answer = spec.query.answer
        self.answerer = None if answer is None else Answerer(
            retriever=self.retriever, reranker=self.reranker, client=self.client, alias=answer.alias,
            k=answer.k, fetch=max(answer.fetch, answer.k), max_tokens=answer.max_tokens,
            **({"system": answer.system} if answer.system else {}))

    def _retriever(self, builder: Builder, spec: str | Spec, where: str) -> Any:
        if isinstance(spec, str) and spec in self.retrievers:
            return self.retrievers[spec]
        if isinstance(spec, Mapping) and isinstance(spec.get("retrievers"), list):
            refs = []
            for i, ref in enumerate(spec["retrievers"]):
                refs.append(self._retriever(builder, ref, f"{where}.retrievers.{i}"))
            spec = {k: v for k, v in spec.items() if k != "retrievers"}
            return builder.build("retriever", spec, where, retrievers=refs)
        return builder.build("retriever", spec, where)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any], **kwargs: Any) -> RetrievalPipeline:
        """From a YAML file or a mapping (see the module docstring)."""
        return cls(parse_pipeline(source), **kwargs)

    async def ingest(self, path: str, *, namespace: str | None = None, prune: bool = False,
                     progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        return await self.ingestion.run(path, namespace=namespace or self.spec.namespace, prune=prune,
                                        progress=progress)

    async def retrieve(self, query: str, *, k: int | None = None, namespace: str | None = None,
                       where: Filter | None = None, rerank: bool = True) -> list[Hit]:
        """The query pipeline without the answer: retrieved, then reranked when one is configured."""
        if not query.strip():
            raise InvalidRequest("the query is empty", param="query")
        k = k or self.spec.query.k
        namespace = namespace or self.spec.namespace
        if self.reranker is None or not rerank:
            hits: list[Hit] = await self.retriever.retrieve(query, k, namespace=namespace, where=where)
            return hits
        fetch = max(k, self.spec.query.answer.fetch if self.spec.query.answer else 20)
        hits = await self.retriever.retrieve(query, fetch, namespace=namespace, where=where)
        reranked: list[Hit] = await self.reranker.rerank(query, hits, k)
        return reranked

    async def ask(self, question: str, *, namespace: str | None = None, where: Filter | None = None) -> Answer:
        if self.answerer is None:
            raise InvalidRequest(f"pipeline {self.spec.name!r} has no query.answer step", param="query.answer")
        return await self.answerer.ask(question, namespace=namespace or self.spec.namespace, where=where)

    async def aclose(self) -> None:
        await self.embedder.aclose()
        await self.index.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> RetrievalPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
