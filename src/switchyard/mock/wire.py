"""What a wire-format module of the mock upstream is made of.

A wire format (OpenAI, Anthropic, Gemini, ...) is one module exposing
``ROUTES: tuple[Route, ...]``. Each route names its method, a path template
(``/v1/models/{model}``), a handler and a ``WireFormat`` that knows how that
provider checks credentials, names the model, and shapes an error body.
``MockUpstream(formats=[openai.ROUTES, anthropic.ROUTES])`` mounts them.

Handlers are plain functions ``(MockRequest, MockSettings) -> Reply |
StreamReply``; everything HTTP-level (keep-alive, chunked framing, faults,
stats) is the server's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


class MockRequest:
    """One parsed request as a handler sees it."""

    __slots__ = ("method", "path", "query", "headers", "body", "params", "mock_headers", "seq", "_json")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        mock_headers: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # names lowercased; last value wins
        self.body = body
        self.params: dict[str, str] = {}
        self.mock_headers = mock_headers or {}
        self.seq = 0  # set by the server: the n-th request it received
        self._json: Any = None

    def json(self) -> Any:
        """The body as JSON, parsed once; ``{}`` for an empty body; ``ValueError`` if invalid."""
        if self._json is None:
            self._json = orjson.loads(self.body) if self.body else {}
        return self._json

    def query_param(self, name: str) -> str | None:
        for part in self.query.split("&"):
            key, _, value = part.partition("=")
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Reply:
    """A complete response."""

    status: int = 200
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()
    content_type: str = "application/json"


@dataclass(slots=True)
class StreamReply:
    """A streamed response: each item of ``chunks`` is written as it comes, in its own HTTP chunk."""

    chunks: Sequence[bytes]
    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    content_type: str = "text/event-stream"
    garbage_chunk: bytes = b"data: {not json\n\n"


@dataclass(frozen=True, slots=True)
class MockSettings:
    """What the operator configured; handed to every handler."""

    api_key: str | None = None
    text: str | None = None
    stream_chunks: int = 20
    chunk_delay_ms: float = 0.0
    embedding_dims: int = 64
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
    extra: dict[str, Any] = field(default_factory=dict)


class WireFormat(Protocol):
    """Per-provider conventions the server needs outside a handler."""

    name: str

    def authorized(self, request: MockRequest, api_key: str) -> bool: ...

    def model_of(self, request: MockRequest) -> str | None: ...

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply: ...


Handler = Callable[[MockRequest, MockSettings], "Reply | StreamReply"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    wire: WireFormat


class RouteTable:
    """Routes by exact path first, then by template; built once per server."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._templates: list[tuple[str, re.Pattern[str], Route]] = []
        for route in routes:
            if "{" in route.path:
                pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path)
                self._templates.append((route.method, re.compile(f"^{pattern}$"), route))
            else:
                self._exact[(route.method, route.path)] = route

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """``(route, params, path_known)``; ``path_known`` tells 405 from 404."""
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}, True
        known = any(p == path for _, p in self._exact)
        for m, pattern, candidate in self._templates:
            found = pattern.match(path)
            if found:
                if m == method:
                    return candidate, found.groupdict(), True
                known = True
        return None, {}, known


def count_tokens(text: str) -> int:
    """A plausible token count: about four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` nearly equal non-empty parts (fewer if it is short)."""
    pieces = max(1, min(pieces, len(text))) if text else 1
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out
