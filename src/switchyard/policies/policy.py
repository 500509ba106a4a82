"""What a policy is: a provider that wraps a provider.

A policy implements two methods, ``unary(op, request, call)`` for calls that
answer once (``chat``, ``embed``, ``complete``) and ``streaming(op, request,
call)`` for calls that answer with chunks (``stream``, ``stream_complete``).
``wrap(PolicyClass, inner, ...)`` builds an instance that has exactly the
abilities of ``inner`` — a chat-only adapter stays chat-only, so capability
checks (``isinstance(p, EmbeddingModel)``) still tell the truth — and forwards
any other attribute (``deployment``, ``aclose``...) to ``inner``.

``Primed`` is a stream whose first chunk has already arrived: the policies
pull it inside their own bounds (first-token timeout, retries, breaker) so a
stream that fails before producing anything is retried or replaced invisibly.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from switchyard.core.call import Call
from switchyard.providers.base import CompletionModel, EmbeddingModel

_NOTHING: Any = object()


class Policy:
    """Base of every policy; subclasses override ``unary`` and/or ``streaming``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def unary(self, op: str, request: Any, call: Call) -> Any:
        return await getattr(self.inner, op)(request, call)

    async def streaming(self, op: str, request: Any, call: Call) -> AsyncIterator[Any]:
        return await getattr(self.inner, op)(request, call)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class _Chat:
    def chat(self, request: Any, call: Call) -> Any:
        return self.unary("chat", request, call)  # type: ignore[attr-defined]

    def stream(self, request: Any, call: Call) -> Any:
        return self.streaming("stream", request, call)  # type: ignore[attr-defined]


class _Embed:
    def embed(self, request: Any, call: Call) -> Any:
        return self.unary("embed", request, call)  # type: ignore[attr-defined]


class _Complete:
    def complete(self, request: Any, call: Call) -> Any:
        return self.unary("complete", request, call)  # type: ignore[attr-defined]

    def stream_complete(self, request: Any, call: Call) -> Any:
        return self.streaming("stream_complete", request, call)  # type: ignore[attr-defined]


@functools.cache
def _variant(policy_cls: type[Policy], embed: bool, complete: bool) -> type:
    bases: tuple[type, ...] = (policy_cls, _Chat)
    if embed:
        bases += (_Embed,)
    if complete:
        bases += (_Complete,)
    return type(policy_cls.__name__, bases, {"__module__": policy_cls.__module__})


def wrap(policy_cls: type[Policy], inner: Any, *args: Any, **kwargs: Any) -> Any:
    """``policy_cls(inner, *args, **kwargs)`` with exactly the abilities of ``inner``."""
    cls = _variant(policy_cls, isinstance(inner, EmbeddingModel), isinstance(inner, CompletionModel))
    return cls(inner, *args, **kwargs)


class Primed:
    """An async iterator of chunks whose first chunk is already here.

    ``on_error`` (set by a policy) hears about a failure after the first chunk;
    the failure still propagates.
    """

    __slots__ = ("_first", "_rest", "on_error")

    def __init__(self, first: Any, rest: Any) -> None:
        self._first = first
        self._rest = rest
        self.on_error: Callable[[BaseException], None] | None = None

    @classmethod
    def empty(cls, rest: Any) -> Primed:
        return cls(_NOTHING, rest)

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> Any:
        first = self._first
        if first is not _NOTHING:
            self._first = _NOTHING
            return first
        try:
            return await self._rest.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise

    async def aclose(self) -> None:
        await self._rest.aclose()
