"""Embeddings from a model the gateway serves, through the gateway's own pipeline.

``AliasEmbedder`` asks an embedding alias of the config (any provider: OpenAI,
Azure, Gemini, Bedrock, Cohere, Ollama...) for its vectors by calling the
pipeline in-process — routing, retries, fallbacks, breakers and spend records
included, no HTTP to itself. ``through_pipeline`` makes that call; the caller it
runs as (``semantic-cache`` by default, trusted) is what spend records and the
audit log show for it.

Texts are sent as they come (a request per lookup, several texts in one store);
at most ``max_pending`` texts are in flight at once, beyond which the cache
bypasses (``EmbedderBusy``). A failed embedding call is ``EmbedderUnavailable``:
the request goes on to its model uncached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from switchyard.cache.semantic.embedder import EmbedderBusy, EmbedderUnavailable, Vector, unit

#: ``(alias, texts) -> one vector (a list of floats) per text``.
EmbedCall = Callable[[str, list[str]], Awaitable[list[Any]]]


class AliasEmbedder:
    """Vectors from the embedding alias ``alias``, fetched with ``call``."""

    def __init__(self, alias: str, call: EmbedCall, *, max_pending: int = 256) -> None:
        self.alias = alias
        self.name = f"alias:{alias}"
        self.call = call
        self.max_pending = max_pending
        self._pending = 0

    async def embed(self, texts: Sequence[str]) -> list[Vector | None]:
        if self._pending + len(texts) > self.max_pending:
            raise EmbedderBusy(f"{self._pending} texts already wait for {self.alias!r}")
        self._pending += len(texts)
        try:
            vectors = await self.call(self.alias, list(texts))
        except Exception as exc:
            raise EmbedderUnavailable(f"embedding alias {self.alias!r} failed: {exc}") from exc
        finally:
            self._pending -= len(texts)
        if len(vectors) != len(texts) or not all(isinstance(v, list) and v for v in vectors):
            raise EmbedderUnavailable(f"embedding alias {self.alias!r} answered {len(vectors)} vectors "
                                      f"of floats for {len(texts)} texts")
        return [unit(v) for v in vectors]

    async def aclose(self) -> None:
        """Nothing: the pipeline belongs to the gateway."""


def through_pipeline(pipeline: Callable[[], Any], *, caller: Any = None,
                     request_id: Callable[[], str] | None = None) -> EmbedCall:
    """An ``EmbedCall`` running the gateway's pipeline in-process.

    ``pipeline()`` returns the ``Pipeline`` (looked up at call time: the cache stage is
    built before the pipeline that holds it). ``caller`` is who the call runs as
    (default: a trusted ``semantic-cache`` caller).
    """
    from switchyard.auth import Caller
    from switchyard.core.call import Call
    from switchyard.core.messages import validate_embedding
    from switchyard.core.request_ids import RequestIds

    who = caller if caller is not None else Caller(name="semantic-cache", is_master=True)
    ids = request_id or RequestIds()

    async def call(alias: str, texts: list[str]) -> list[Any]:
        request = validate_embedding({"model": alias, "input": texts, "encoding_format": "float"})
        response = await pipeline().embed(request, Call(ids(), caller=who))
        vectors: list[Any] = response.vectors
        return vectors

    return call
