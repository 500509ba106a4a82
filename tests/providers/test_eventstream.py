"""The AWS event-stream decoder: every split, both checksums, every header type."""

import struct
import uuid
import zlib

import pytest

from switchyard.core.errors import UpstreamProtocolError
from switchyard.providers.eventstream import EventStreamDecoder, encode_event, encode_exception, encode_message

# From the AWS event-stream spec's test corpus: a message with one string header and payload.
KNOWN = bytes.fromhex(
    "0000003d0000002007fd8396"  # total 61, headers 32, prelude crc
    "0c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e"  # content-type: application/json
    "7b27666f6f273a27626172277d"  # {'foo':'bar'}
    "8d9c08b1"
)


def _stream() -> bytes:
    return b"".join([
        encode_event("messageStart", b'{"role":"assistant"}'),
        encode_event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'),
        encode_exception("throttlingException", b'{"message":"slow down"}'),
    ])


def test_decodes_a_known_message_from_the_spec():
    [message] = EventStreamDecoder().feed(KNOWN)
    assert message.headers == {"content-type": "application/json"}
    assert message.payload == b"{'foo':'bar'}"


def test_encode_matches_the_known_message():
    assert encode_message({"content-type": "application/json"}, b"{'foo':'bar'}") == KNOWN


def test_whole_stream_in_one_piece():
    messages = EventStreamDecoder().feed(_stream())
    assert [m.event_type for m in messages] == ["messageStart", "contentBlockDelta", "throttlingException"]
    assert [m.message_type for m in messages] == ["event", "event", "exception"]
    assert messages[1].payload == b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'


def test_split_at_every_byte_boundary():
    data = _stream()
    expected = [(m.headers, m.payload) for m in EventStreamDecoder().feed(data)]
    for cut in range(len(data) + 1):
        decoder = EventStreamDecoder()
        got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert [(m.headers, m.payload) for m in got] == expected, cut
        assert decoder.pending == 0


def test_one_byte_at_a_time():
    data = _stream()
    decoder = EventStreamDecoder()
    got = [m for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    assert len(got) == 3


def test_prelude_checksum_mismatch_raises():
    data = bytearray(encode_event("messageStart", b"{}"))
    data[9] ^= 0xFF
    with pytest.raises(UpstreamProtocolError, match="prelude checksum"):
        EventStreamDecoder().feed(bytes(data))


def test_payload_corruption_fails_the_message_checksum():
    data = bytearray(encode_event("contentBlockDelta", b'{"delta":{"text":"Hi"}}'))
    data[-6] ^= 0x01
    with pytest.raises(UpstreamProtocolError, match="message checksum"):
        EventStreamDecoder().feed(bytes(data))


def test_impossible_length_raises():
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(UpstreamProtocolError, match="impossible"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_garbage_is_not_taken_for_a_message():
    with pytest.raises(UpstreamProtocolError):
        EventStreamDecoder().feed(b"<html>502 Bad Gateway</html>")


def test_every_header_type_decodes():
    ident = uuid.uuid4()
    raw = bytearray()
    for name, kind, value in [
        (b"t", 0, b""), (b"f", 1, b""), (b"b", 2, struct.pack(">b", -3)), (b"s", 3, struct.pack(">h", 300)),
        (b"i", 4, struct.pack(">i", -70000)), (b"l", 5, struct.pack(">q", 2**40)),
        (b"y", 6, struct.pack(">H", 3) + b"\x00\x01\x02"), (b"str", 7, struct.pack(">H", 2) + b"ok"),
        (b"ts", 8, struct.pack(">q", 1700000000000)), (b"u", 9, ident.bytes),
    ]:
        raw += bytes([len(name)]) + name + bytes([kind]) + value
    total = 12 + len(raw) + 4
    prelude = struct.pack(">II", total, len(raw))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + bytes(raw)
    [message] = EventStreamDecoder().feed(body + struct.pack(">I", zlib.crc32(body)))
    assert message.headers == {
        "t": True, "f": False, "b": -3, "s": 300, "i": -70000, "l": 2**40, "y": b"\x00\x01\x02",
        "str": "ok", "ts": 1700000000000, "u": ident,
    }
