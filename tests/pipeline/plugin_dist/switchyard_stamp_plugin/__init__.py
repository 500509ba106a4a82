"""A tiny third-party stage, installed as a distribution with an entry point in
the ``switchyard.stages`` group (its ``.dist-info`` sits beside this package):
it stamps every answer with a response header and counts what it saw."""

from __future__ import annotations

from typing import Any


class Stamp:
    """Adds ``x-stamp: <options.value>`` to every answer, plain or streamed."""

    def __init__(self, options: dict[str, Any], context: Any) -> None:
        self.value = str(options.get("value", "stamped"))
        self.models = sorted(context.config.models)  # the context: the gateway's config, stores, catalog

    def _stamp(self, call: Any) -> None:
        call.response_headers["x-stamp"] = f"{self.value};alias={call.group.alias};models={','.join(self.models)}"

    async def unary(self, call: Any, next: Any) -> Any:
        answer = await next(call)
        self._stamp(call)
        return answer

    async def stream(self, call: Any, next: Any) -> Any:
        chunks = await next(call)
        self._stamp(call)
        return chunks
