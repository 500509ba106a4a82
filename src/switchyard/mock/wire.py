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

import base64
import collections
import hashlib
import random
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
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


#: Prompts shorter than this are never cached (Anthropic's, OpenAI's and Gemini's smallest cacheable prefix).
MIN_CACHEABLE_TOKENS = 1024


class PromptCache:
    """The mock's prompt cache: hashes of the prompt prefixes it has seen, at most
    ``capacity``, the least recently used forgotten first. One per server."""

    __slots__ = ("capacity", "_seen")

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    def use(self, prefixes: Sequence[tuple[str, int]]) -> tuple[int, int]:
        """``prefixes``: ``(hash, tokens)`` of each cache breakpoint, shortest first.
        Returns ``(read, written)``: the tokens of the longest prefix seen before, and
        the rest up to the longest breakpoint when that one is new. Prefixes under
        ``MIN_CACHEABLE_TOKENS`` are not cached. Every prefix is remembered."""
        read = longest = 0
        for digest, tokens in prefixes:
            if tokens < MIN_CACHEABLE_TOKENS:
                continue
            longest = max(longest, tokens)
            if digest in self._seen:
                read = max(read, tokens)
                self._seen.move_to_end(digest)
            else:
                self._seen[digest] = None
                if len(self._seen) > self.capacity:
                    self._seen.popitem(last=False)
        return read, longest - read


def prefix_hashes(units: Iterable[tuple[Any, int, bool]]) -> list[tuple[str, int]]:
    """``units``: ``(JSON value, tokens, breakpoint after it)`` in prompt order ->
    ``(hash, tokens so far)`` of the prompt up to each breakpoint."""
    running = hashlib.sha256()
    tokens = 0
    out = []
    for unit, count, marked in units:
        running.update(orjson.dumps(unit, option=orjson.OPT_SORT_KEYS))
        tokens += count
        if marked:
            out.append((running.copy().hexdigest(), tokens))
    return out


@dataclass(frozen=True, slots=True)
class MockSettings:
    """What the operator configured; handed to every handler (``prompt_cache`` is the
    server's prompt cache, the one thing handlers share between requests)."""

    api_key: str | None = None
    text: str | None = None
    stream_chunks: int = 20
    chunk_delay_ms: float = 0.0
    embedding_dims: int = 64
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
    extra: dict[str, Any] = field(default_factory=dict)
    prompt_cache: PromptCache = field(default_factory=PromptCache, compare=False, repr=False)
    #: Looks at a provider batch before it shows as done (``mock.batches``).
    batch_polls: int = 1
    #: The provider batches and their files (``mock.batches``), shared like the prompt cache.
    batches: Any = field(default_factory=lambda: _batches(), compare=False, repr=False)


def _batches() -> Any:
    from switchyard.mock.batches import MockBatches

    return MockBatches()


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


# What every wire format's handlers share: the answer is an echo of the last user
# text (or the configured text), a tool is called when the user says ``call <name>``,
# and vectors are a deterministic function of the text.

PLACEHOLDERS: dict[str, Any] = {"string": "mock", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}
FALLBACK_TEXT = "Hello from the mock upstream."


def bearer_ok(request: MockRequest, api_key: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <api_key>``."""
    return request.headers.get("authorization") == f"Bearer {api_key}"


def body_model(request: MockRequest) -> str | None:
    """The ``model`` field of a JSON request body; None without a body or a string model."""
    if not request.body:
        return None
    model = request.json().get("model")
    return model if isinstance(model, str) else None


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One SSE frame carrying ``data`` as JSON, with an ``event:`` line when named."""
    frame = b"data: " + orjson.dumps(data) + b"\n\n"
    return b"event: " + event.encode() + b"\n" + frame if event else frame


def content_text(content: Any) -> str:
    """The text of OpenAI-style (or Anthropic-style) content: a string or a list of
    ``{"type": "text"}`` parts, joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_user_text(messages: Iterable[dict[str, Any]], text_of: Callable[[Any], str] = content_text) -> str:
    """The text of the last ``user`` message, or ``""``."""
    return next((text_of(m.get("content")) for m in reversed(list(messages)) if m.get("role") == "user"), "")


def answer_text(settings: MockSettings, last_user: str, limit: Any = None, *, calls_tool: bool = False) -> tuple[str, bool]:
    """``(text, cut)``: the configured text, else the echo of ``last_user``, cut to
    about ``limit`` tokens when it is an int and the text is longer (never when a
    tool is called)."""
    text = settings.text if settings.text is not None else (last_user or FALLBACK_TEXT)
    if not calls_tool and isinstance(limit, int) and count_tokens(text) > limit:
        return text[: limit * 4], True
    return text, False


def pick_tool(names: Iterable[str], last_user: str, *, forced: str | None = None, mode: str = "auto") -> str | None:
    """The tool the mock calls: ``forced`` when it is declared; none when ``mode`` is
    ``"none"``; else the first whose ``call <name>`` the last user text says; else,
    when ``mode`` is ``"required"``, the first declared."""
    names = list(names)
    if forced is not None and forced in names:
        return forced
    if mode == "none":
        return None
    lowered = last_user.lower()
    for name in names:
        if f"call {name.lower()}" in lowered:
            return name
    if mode == "required" and names:
        return names[0]
    return None


def placeholder_args(schema: dict[str, Any] | None, *, any_case: bool = False, given: str = "") -> dict[str, Any]:
    """Arguments for a JSON schema: each property a placeholder of its type
    (``any_case`` for Gemini's upper-case type names) — but a string property ``p``
    takes the value the user's text ``given`` spells ``p=<value>`` (up to a space)."""
    props = (schema or {}).get("properties") or {}
    if any_case:
        out = {k: PLACEHOLDERS.get(str(v.get("type", "")).lower()) for k, v in props.items()}
    else:
        out = {k: PLACEHOLDERS.get(str((v or {}).get("type"))) for k, v in props.items()}
    if given and "=" in given:
        for key, value in out.items():
            if value == "mock":
                spelled = re.search(rf"(?<![\w]){re.escape(key)}=(\S+)", given)
                if spelled is not None:
                    out[key] = spelled.group(1)
    return out


def embedding_vector(text: str, dims: int) -> list[float]:
    """A unit vector that is a deterministic function of ``text``."""
    rng = random.Random(zlib.crc32(text.encode()))
    vec = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


# Reasoning: every wire format's mock thinks the same deterministic thought and signs
# it with a digest of its text, so a thought sent back is checked like the real APIs
# check their signatures.

#: Anthropic's documented test string: a prompt containing it gets redacted thinking.
REDACTED_THINKING_TRIGGER = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"
)


def thought(last_user: str) -> str:
    """The mock's reasoning about the last user text."""
    return f"The user wrote {len(last_user)} characters; I will answer with them as they are."


def signature(text: str) -> str:
    """The mock's signature of a thought (or of anything it must get back unchanged)."""
    return base64.b64encode(hashlib.sha256(b"mock-thinking\0" + text.encode()).digest()).decode()


def redacted_data(last_user: str) -> str:
    """The opaque ``data`` of a redacted thought."""
    return base64.b64encode(b"mock-redacted\0" + hashlib.sha256(last_user.encode()).digest()).decode()


def redacted_ok(data: Any) -> bool:
    try:
        return isinstance(data, str) and base64.b64decode(data).startswith(b"mock-redacted\0")
    except ValueError:
        return False
