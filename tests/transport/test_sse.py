from switchyard.transport import LineDecoder, ServerSentEvent, SSEDecoder, encode_data, encode_event

STREAM = (
    b": keep-alive comment\n"
    b"event: message_start\n"
    b"id: 7\n"
    b"data: {\"a\":\n"
    b"data: 1}\n"
    b"\n"
    b"data: second\r\n\r\n"
    b"data:no-space\r\r"
    b"retry: 1500\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent('{"a":\n1}', "message_start", "7"),
    ServerSentEvent("second", "message", "7"),
    ServerSentEvent("no-space", "message", "7"),
    ServerSentEvent("[DONE]", "message", "7", 1500),
]


def decode(parts: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [e for part in parts for e in decoder.feed(part)]
    return events + decoder.flush()


def test_whole_stream():
    assert decode([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events():
    for i in range(len(STREAM) + 1):
        assert decode([STREAM[:i], STREAM[i:]]) == EXPECTED, i


def test_byte_by_byte():
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_cr_at_the_end_of_a_feed_waits_for_the_next_byte():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n\r\n") == [ServerSentEvent("x")]


def test_unterminated_final_event_is_flushed():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [ServerSentEvent("tail")]


def test_event_without_data_is_not_dispatched():
    assert decode([b"event: ping\n\n", b"data: x\n\n"]) == [ServerSentEvent("x")]


def test_encoders_round_trip():
    assert encode_data(b'{"a":1}') == b'data: {"a":1}\n\n'
    raw = encode_event("line1\nline2", event="delta", id="3")
    assert decode([raw]) == [ServerSentEvent("line1\nline2", "delta", "3")]


def test_ndjson_lines_in_any_split():
    text = b'{"a":1}\r\n\n{"b":2}\n{"c":3}'
    for i in range(len(text) + 1):
        decoder = LineDecoder()
        lines = decoder.feed(text[:i]) + decoder.feed(text[i:]) + decoder.flush()
        assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}'], i


# ``feed_data``: the data of each event, cut out of the buffer without decoding (OpenAI streams).
DATA_STREAMS = [
    STREAM,
    b'data: {"id":"1","choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b'data: {"id":"1","choices":[{"delta":{"content":"lo \\u00e9\xc3\xa9"}}]}\n\n'
    b": ping\n\n"
    b"data: two\ndata: lines\n\n\n\n"
    b"event: named\ndata: x\n\n"
    b"data:tight\n\n"
    b"data: [DONE]\n\n",
]


def _data(parts: list[bytes], fast: bool) -> list[bytes]:
    decoder = SSEDecoder()
    if fast:
        out = [d for part in parts for d in decoder.feed_data(part)]
    else:
        out = [e.data.encode() for part in parts for e in decoder.feed(part)]
    return out + [e.data.encode() for e in decoder.flush()]


def test_feed_data_gives_the_data_feed_gives_at_every_split():
    for stream in DATA_STREAMS:
        expected = _data([stream], fast=False)
        assert len(expected) >= 4
        assert _data([stream], fast=True) == expected
        for i in range(len(stream) + 1):
            for j in range(i, len(stream) + 1, 7):
                assert _data([stream[:i], stream[i:j], stream[j:]], fast=True) == expected, (i, j)


def test_feed_data_byte_by_byte():
    for stream in DATA_STREAMS:
        assert _data([stream[i : i + 1] for i in range(len(stream))], fast=True) == _data([stream], fast=False)


def test_feed_data_keeps_the_bytes_of_a_plain_event():
    raw = b'{"choices":[{"delta":{"content":"\xc3\xa9"}}]}'
    assert SSEDecoder().feed_data(b"data: " + raw + b"\n\n") == [raw]
