"""Components inside a running gateway: model calls through its pipeline, as the HTTP caller.

``PipelineClient`` has the two methods components call on a client — ``chat``
and ``embed`` — and runs them through the gateway's own request pipeline
in-process (no HTTP to itself). The caller they run as is the one
``as_caller`` set for the current task (the HTTP request being served), so the
caller's model allowlist, limits, budgets and spend records apply to the
embeddings, rerankings and answers made for it; outside a request, a trusted
``retrieval`` caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

CALLER: ContextVar[Any] = ContextVar("switchyard_retrieval_caller", default=None)


@contextmanager
def as_caller(caller: Any) -> Iterator[None]:
    """Model calls made in this block (and the tasks it starts) run as ``caller``."""
    token = CALLER.set(caller)
    try:
        yield
    finally:
        CALLER.reset(token)


class PipelineClient:
    """``chat``/``embed`` through ``services().pipeline`` as the current caller."""

    def __init__(self, services: Callable[[], Any], request_id: Callable[[], str]) -> None:
        from switchyard.auth import Caller

        self.services = services
        self.request_id = request_id
        self.trusted = Caller(name="retrieval", is_master=True)

    def _call(self) -> Any:
        from switchyard.core.call import Call

        caller = CALLER.get()
        return Call(self.request_id(), caller=caller if caller is not None else self.trusted)

    async def chat(self, *, model: str, messages: list[dict[str, Any]], **params: Any) -> Any:
        from switchyard.core.messages import validate_chat

        request = validate_chat({"model": model, "messages": messages, **params})
        return await self.services().pipeline.chat(request, self._call())

    async def embed(self, *, model: str, input: Any, **params: Any) -> Any:
        from switchyard.core.messages import validate_embedding

        request = validate_embedding({"model": model, "input": input, **params})
        return await self.services().pipeline.embed(request, self._call())

    async def aclose(self) -> None:
        """Nothing: the pipeline belongs to the gateway."""
