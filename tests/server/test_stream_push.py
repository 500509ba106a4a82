"""A stream relayed by push (``Served.relay`` over ``UpstreamChunks``, written by ``ChunkedBody``):
the client gets every chunk in order whatever its pace, and a client that stops reading holds the
upstream instead of filling the gateway's memory."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

MASTER = "sk-master-push"


def _config(mock: Any) -> dict[str, Any]:
    return {
        "auth": {"master_key": MASTER},
        "models": {"gpt": {"deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-upstream"}]}},
    }


def _stream(gateway: Any, *, rcvbuf: int | None = None, pause: float = 0.0) -> bytes:
    parts = urlsplit(gateway.url)
    body = orjson.dumps({"model": "gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {MASTER}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    with sock:
        sock.connect((parts.hostname, parts.port))
        sock.sendall(head + body)
        time.sleep(pause)  # not reading: the gateway's writes back up
        data = b""
        while True:
            part = sock.recv(65536)
            if not part:
                return data
            data += part


def _events(answer: bytes) -> list[bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    out, rest = b"", body
    while rest:  # de-chunk
        size, _, rest = rest.partition(b"\r\n")
        n = int(size, 16)
        out, rest = out + rest[:n], rest[n + 2:]
    return [event for event in out.split(b"\n\n") if event]


def _contents(events: list[bytes]) -> str:
    text = []
    for event in events[:-1]:
        chunk = orjson.loads(event.removeprefix(b"data: "))
        for choice in chunk.get("choices") or ():
            text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


def test_a_client_that_stops_reading_gets_every_chunk_once_it_reads(start_mock, start_gateway):
    mock = start_mock(stream_chunks=3000, text="word " * 600_000)
    gateway = start_gateway(_config(mock))
    quick = _events(_stream(gateway))
    held = _events(_stream(gateway, rcvbuf=4096, pause=1.0))
    assert quick[-1] == held[-1] == b"data: [DONE]"
    assert len(held) == len(quick) > 3000
    assert _contents(held) == _contents(quick)
    assert not any(b'"error"' in event for event in held)


def test_paced_chunks_arrive_one_by_one(start_mock, start_gateway):
    mock = start_mock(stream_chunks=5, chunk_delay_ms=20, text="one two three four five six seven")
    gateway = start_gateway(_config(mock))
    events = _events(_stream(gateway))
    assert events[-1] == b"data: [DONE]" and len(events) >= 6
    assert _contents(events).strip()
