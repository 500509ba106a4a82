"""The AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

Bedrock's ConverseStream answers with a sequence of binary messages::

    prelude   total length (u32 BE) | headers length (u32 BE) | CRC32 of those 8 bytes
    headers   repeated: name length (u8) | name | value type (u8) | value
    payload   the event's JSON
    trailer   CRC32 of everything before it

``EventStreamDecoder.feed`` takes bytes in any split and returns the complete
messages; a CRC mismatch or an impossible length is an ``UpstreamProtocolError``.
``encode_message`` builds one message (the mock upstream and tests use it).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from switchyard.core.errors import UpstreamProtocolError

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
PRELUDE_LENGTH = 12
MIN_MESSAGE = PRELUDE_LENGTH + 4
#: A bound against garbage lengths: AWS caps event messages at 16 MiB.
MAX_MESSAGE = 16 * 1024 * 1024

# header value types
_TRUE, _FALSE, _BYTE, _SHORT, _INT, _LONG, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)
_FIXED = {_BYTE: struct.Struct(">b"), _SHORT: struct.Struct(">h"), _INT: struct.Struct(">i"),
          _LONG: struct.Struct(">q"), _TIMESTAMP: struct.Struct(">q")}
_U16 = struct.Struct(">H")


@dataclass(slots=True)
class EventMessage:
    """One decoded message: headers by name, and the raw payload."""

    headers: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def message_type(self) -> str:
        """``event``, ``exception`` or ``error``."""
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str | None:
        value = self.headers.get(":event-type") or self.headers.get(":exception-type") or self.headers.get(":error-code")
        return None if value is None else str(value)


class EventStreamDecoder:
    """Incremental decoder: bytes in any split, complete verified messages out."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buf += data
        out: list[EventMessage] = []
        buf = self._buf
        while len(buf) >= PRELUDE_LENGTH:
            total, headers_length = _PRELUDE.unpack_from(buf, 0)
            (prelude_crc,) = _U32.unpack_from(buf, 8)
            if zlib.crc32(bytes(buf[:8])) != prelude_crc:
                raise UpstreamProtocolError("Upstream event stream: prelude checksum mismatch")
            if total < MIN_MESSAGE or total > MAX_MESSAGE or headers_length > total - MIN_MESSAGE:
                raise UpstreamProtocolError(f"Upstream event stream: impossible message length {total}")
            if len(buf) < total:
                break
            message = bytes(buf[:total])
            del buf[:total]
            (message_crc,) = _U32.unpack_from(message, total - 4)
            if zlib.crc32(message[: total - 4]) != message_crc:
                raise UpstreamProtocolError("Upstream event stream: message checksum mismatch")
            headers_end = PRELUDE_LENGTH + headers_length
            headers = _decode_headers(message[PRELUDE_LENGTH:headers_end])
            out.append(EventMessage(headers, message[headers_end : total - 4]))
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buf)


def _decode_headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    pos, end = 0, len(data)
    try:
        while pos < end:
            name_length = data[pos]
            name = data[pos + 1 : pos + 1 + name_length].decode()
            pos += 1 + name_length
            kind = data[pos]
            pos += 1
            value: Any
            if kind == _TRUE or kind == _FALSE:
                value = kind == _TRUE
            elif kind in _FIXED:
                fixed = _FIXED[kind]
                (value,) = fixed.unpack_from(data, pos)
                pos += fixed.size
            elif kind == _BYTES or kind == _STRING:
                (length,) = _U16.unpack_from(data, pos)
                raw = data[pos + 2 : pos + 2 + length]
                if len(raw) != length:
                    raise ValueError("truncated header value")
                value = raw.decode() if kind == _STRING else raw
                pos += 2 + length
            elif kind == _UUID:
                value = uuid.UUID(bytes=data[pos : pos + 16])
                pos += 16
            else:
                raise ValueError(f"unknown header type {kind}")
            headers[name] = value
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise UpstreamProtocolError(f"Upstream event stream: bad headers ({exc})") from None
    return headers


def encode_headers(headers: dict[str, Any]) -> bytes:
    """Headers with str values as type 7, bytes as 6, bool as 0/1, int as 4 (i32)."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        out += bytes([len(raw_name)]) + raw_name
        if isinstance(value, bool):
            out.append(_TRUE if value else _FALSE)
        elif isinstance(value, int):
            out.append(_INT)
            out += _FIXED[_INT].pack(value)
        elif isinstance(value, bytes):
            out.append(_BYTES)
            out += _U16.pack(len(value)) + value
        else:
            raw = str(value).encode()
            out.append(_STRING)
            out += _U16.pack(len(raw)) + raw
    return bytes(out)


def encode_message(headers: dict[str, Any], payload: bytes) -> bytes:
    """One framed message with both checksums."""
    raw_headers = encode_headers(headers)
    total = PRELUDE_LENGTH + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    body = prelude + _U32.pack(zlib.crc32(prelude)) + raw_headers + payload
    return body + _U32.pack(zlib.crc32(body))


def encode_event(event_type: str, payload: bytes) -> bytes:
    """An ``event`` message as Bedrock sends it."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def encode_exception(exception_type: str, payload: bytes) -> bytes:
    """An ``exception`` message (a modeled error mid-stream)."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        payload,
    )
