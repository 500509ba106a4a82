"""Retrievers as tools, and long-term memory as a retriever scoped per user and tenant.

A ``Retriever`` is the components' protocol (issue 17: ``retrieve(query, k, *, namespace,
where) -> [Hit]``, each hit a scored chunk); anything shaped like it serves. As a tool, the
model sends a query and reads the best ``k`` chunks (id, text, source, score) as JSON.

``scope`` keeps each caller in its own data: ``"tenant"`` searches the namespace of the
run's tenant, ``"user"`` also only the chunks whose metadata ``user`` is the run's user.
A run without the scope's tenant or user gets an error result, never everything.
``long_term_memory`` is such a tool, ``recall``, scoped to both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from switchyard.agents.tools import NAME, RunContext, ToolOutput

DEFAULT_NAMESPACE = "default"
MAX_QUERY = 4000


@runtime_checkable
class Retriever(Protocol):
    """A query -> the best ``k`` hits (``hit.chunk.text``, ``.id``, ``.metadata``; ``hit.score``)."""

    async def retrieve(self, query: str, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                       where: Mapping[str, Any] | None = None) -> Sequence[Any]:
        ...


_QUERY: dict[str, Any] = {"type": "object", "properties": {"query": {"type": "string", "description":
                          "what to look for, in words"}}, "required": ["query"], "additionalProperties": False}


@dataclass(slots=True)
class RetrieverTool:
    """A retriever the model can query."""

    retriever: Retriever
    name: str
    description: str
    k: int = 5
    scope: tuple[str, ...] = ()
    namespace: str = DEFAULT_NAMESPACE
    parameters: dict[str, Any] = field(default_factory=lambda: dict(_QUERY))
    needs_approval: bool = False

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        if not 1 <= self.k <= 100:
            raise ValueError("k: must be from 1 to 100")
        unknown = set(self.scope) - {"tenant", "user"}
        if unknown:
            raise ValueError(f"scope: {', '.join(sorted(unknown))} is not tenant or user")

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        try:
            query = orjson.loads(arguments or "{}").get("query")
        except (orjson.JSONDecodeError, AttributeError):
            query = None
        if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY:
            return ToolOutput(f"Invalid arguments for tool {self.name}: query: a non-empty string of at most "
                              f"{MAX_QUERY} characters is required.", True)
        namespace, where = self.namespace, None
        if "tenant" in self.scope:
            if not context.tenant:
                return ToolOutput(f"Error: {self.name} is scoped per tenant and this run has none.", True)
            namespace = context.tenant
        if "user" in self.scope:
            if not context.user:
                return ToolOutput(f"Error: {self.name} is scoped per user and this run has none.", True)
            where = {"user": context.user}
        try:
            hits = await self.retriever.retrieve(query, self.k, namespace=namespace, where=where)
        except Exception as exc:  # noqa: BLE001 - the model's to read
            return ToolOutput(f"Error: {type(exc).__name__}: {exc}", True)
        found = [{"id": hit.chunk.id, "text": hit.chunk.text, "source": dict(hit.chunk.metadata).get("source"),
                  "score": round(float(hit.score), 4)} for hit in hits]
        return ToolOutput(orjson.dumps(found).decode())


def retriever_tool(retriever: Retriever, *, name: str = "search", description: str | None = None, k: int = 5,
                   scope: Sequence[str] = (), namespace: str = DEFAULT_NAMESPACE) -> RetrieverTool:
    return RetrieverTool(retriever, name, description or "Search the knowledge base; answers the best passages.",
                         k, tuple(scope), namespace)


def long_term_memory(retriever: Retriever, *, k: int = 5) -> RetrieverTool:
    """``recall``: what earlier conversations left about this user, in this tenant."""
    return retriever_tool(retriever, name="recall", k=k, scope=("tenant", "user"),
                          description="Recall what you know about this user from earlier conversations.")
