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


def test_whole_one_line_events_split_fast_and_anything_else_is_left_to_the_decoder():
    from switchyard.transport.sse import data_only

    assert data_only(b'data: {"a":1}\n\ndata: [DONE]\n\n') == [b'{"a":1}', b"[DONE]"]
    assert data_only(b'data: {"a":1}\n\ndata: {"b"') is None  # a partial event
    assert data_only(b'data: {"a":1}\r\n\r\n') is None
    assert data_only(b": keep-alive\n\ndata: x\n\n") is None  # a comment
    assert data_only(b"event: ping\ndata: x\n\n") is None  # another field
    assert data_only(b"data: a\ndata: b\n\n") is None  # multi-line data
    decoder = SSEDecoder()
    assert decoder.idle
    decoder.feed(b"data: half")
    assert not decoder.idle  # something held: the fast split must not run


def test_an_openai_stream_reads_the_same_by_either_path():
    from switchyard.providers import openai_format as wire
    from switchyard.providers.openai_compatible import ChunkEvents

    events = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: [DONE]\n\n'
    fast = ChunkEvents(wire.StreamDecoder())
    whole = fast.feed(events)
    slow = ChunkEvents(wire.StreamDecoder())
    pieces = [c for i in range(0, len(events), 7) for c in slow.feed(events[i:i + 7])]
    assert [c.raw for c in whole] == [c.raw for c in pieces] and len(whole) == 2
    assert fast.finished and slow.finished
    assert fast.decoder.usage == slow.decoder.usage and fast.decoder.usage.completion_tokens == 2
