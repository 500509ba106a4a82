"""What the cache keeps of an answer, and how it is served again.

Entries hold only bytes, numbers and tuples, so they are kept out of the garbage
collector's sight (``gc=False``): a full cache costs it nothing to walk.

An ``Entry`` is an answer as the client got it: a unary answer's bytes (and its
native bytes on the Anthropic surface), or a stream's chunks in order — each its
bytes, its native frame, its usage — so a cached stream is replayed as the same
events the official SDKs reassembled the first time. Beside it: the usage, what
the upstream call cost (what each hit saves), when it was stored, and for an
alias that keeps them, an upstream refusal (status, code, type, message, param).

``encode``/``decode`` give the bytes a shared store keeps (msgpack through
msgspec, a few microseconds); the memory store keeps the ``Entry`` itself.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from switchyard.core.call import Kind
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import ChatResponse, Chunk, EmbeddingResponse, Usage

_TOOL_REASONS = ("tool_calls", "function_call")
_NO_MESSAGE: dict[str, Any] = {}


class Piece(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One chunk of a stream as it was sent: bytes, native frame, usage, ``more``."""

    raw: bytes | None
    native: bytes | None = None
    usage: tuple[int, int, int | None, int | None, int | None] | None = None
    more: bool = False


class Refusal(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """An upstream refusal kept as an answer (an alias with ``errors: true``)."""

    status: int
    code: str | None
    type: str
    message: str
    param: str | None = None


class Entry(msgspec.Struct, array_like=True, gc=False):
    at: float
    stream: bool
    body: bytes | None = None
    native: bytes | None = None
    usage: tuple[int, int, int | None, int | None, int | None] | None = None
    #: A tuple (a list would be an object the garbage collector walks, one per entry kept).
    pieces: tuple[Piece, ...] = ()
    cost: float = 0.0
    refusal: Refusal | None = None

    def size(self) -> int:
        """About the bytes this entry holds (what the LRU counts)."""
        body, native, pieces = self.body, self.native, self.pieces
        total = 96 + (len(body) if body is not None else 0) + (len(native) if native is not None else 0)
        for piece in pieces:
            total += 48 + len(piece.raw or b"") + len(piece.native or b"")
        if self.refusal is not None:
            total += len(self.refusal.message)
        return total


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Entry)


def encode(entry: Entry) -> bytes:
    return _ENCODER.encode(entry)


def decode(data: bytes) -> Entry | None:
    """The entry in ``data``, or None when it is not one (a store written by another version)."""
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def usage_tuple(usage: Usage | None) -> tuple[int, int, int | None, int | None, int | None] | None:
    if usage is None:
        return None
    return (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens,
            usage.reasoning_tokens)


def usage_of(value: tuple[int, int, int | None, int | None, int | None] | None) -> Usage | None:
    return None if value is None else Usage(*value)


# -- unary answers ------------------------------------------------------------------------------
def from_answer(answer: Any, at: float, cost: float) -> Entry:
    raw = answer.raw
    usage = answer.usage
    return Entry(at, False, raw if raw is not None else answer.to_bytes(), getattr(answer, "native", None),
                 None if usage is None else (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                                             usage.cache_write_tokens, usage.reasoning_tokens), (), cost)


def answer_of(entry: Entry, kind: Kind) -> Any:
    """The unary answer ``entry`` holds, for a call of ``kind``."""
    raw = entry.body or b"{}"
    body = orjson.loads(raw)
    usage = usage_of(entry.usage)
    if kind is Kind.EMBED:
        return EmbeddingResponse(body=body, usage=usage, raw=raw)
    return ChatResponse(body=body, usage=usage, raw=raw, native=entry.native)


def calls_tools(answer: Any) -> bool:
    """Whether a unary answer calls a tool (a function call, the legacy way included). Read from its
    parsed body, a few lookups whatever the answer's length (searching its bytes costs by the byte)."""
    body = getattr(answer, "body", None)
    if not isinstance(body, dict):
        return False
    for choice in body.get("choices") or ():
        message = choice.get("message") or _NO_MESSAGE
        if message.get("tool_calls") or message.get("function_call") \
                or choice.get("finish_reason") in _TOOL_REASONS:
            return True
    return False


# -- streams ------------------------------------------------------------------------------------
def piece_of(chunk: Chunk) -> Piece:
    """The chunk as it leaves the pipeline now (a dict-only chunk is written out once)."""
    raw = chunk.raw
    if raw is None and chunk.data is not None:
        raw = orjson.dumps(chunk.data)
    return Piece(raw, chunk.native, usage_tuple(chunk.usage), chunk.more)


def piece_calls_tools(piece: Piece) -> bool:
    """Whether a streamed chunk calls a tool (read only when its bytes name one)."""
    raw = piece.raw
    if raw is None or raw.find(b"_call") < 0:  # names neither tool_calls nor function_call
        return False  # (``find``, not ``in``: ``bytes in bytes`` first fails as an integer, dearly)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True  # unreadable: not kept
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("tool_calls") or delta.get("function_call") \
                or choice.get("finish_reason") in ("tool_calls", "function_call"):
            return True
    return False


def chunk_of(piece: Piece, *, cost: float | None = None, saved: float | None = None) -> Chunk:
    """A fresh chunk for one reader. A chunk carrying usage that the client sees gets, when
    ``cost`` is given (a cached or shared answer), ``usage.cost_usd`` (what this client
    paid: ``cost``) and ``usage.saved_usd`` (``saved``: what the upstream call cost)."""
    usage = usage_of(piece.usage)
    if usage is None or cost is None or piece.raw is None:
        return Chunk(raw=piece.raw, usage=usage, more=piece.more, native=piece.native)
    data = orjson.loads(piece.raw)
    shown = data.get("usage")
    if isinstance(shown, dict):
        shown["cost_usd"] = cost
        if saved is not None:
            shown["saved_usd"] = round(saved, 10)
    return Chunk(data=data, usage=usage, more=piece.more, native=piece.native)


def stream_usage(pieces: tuple[Piece, ...]) -> Usage | None:
    """The last usage the stream's chunks carried."""
    for piece in reversed(pieces):
        if piece.usage is not None:
            return usage_of(piece.usage)
    return None


# -- refusals -------------------------------------------------------------------------------------
def keeps(error: BaseException) -> bool:
    """Whether an upstream failure is an answer to the request itself (kept with ``errors: true``):
    a 4xx about the request — not a rate limit, a timeout, a key, or the gateway's own limit."""
    return (isinstance(error, SwitchyardError) and 400 <= error.status < 500 and not error.local
            and error.status not in (401, 403, 408, 409, 429))


def refusal_of(error: SwitchyardError) -> Refusal:
    return Refusal(error.status, error.code, error.type, error.message, error.param)


def error_of(refusal: Refusal) -> SwitchyardError:
    error = SwitchyardError(refusal.message, param=refusal.param, code=refusal.code, status=refusal.status)
    error.type = refusal.type
    return error
