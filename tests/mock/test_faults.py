"""Each fault, selected by header, model name and control endpoint."""

import asyncio

import orjson
import pytest

from switchyard.core.errors import UpstreamProtocolError, UpstreamTimeout
from switchyard.mock import MockUpstream, MockUpstreamThread
from switchyard.transport import HttpClient, SSEDecoder

CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "abcdefghij"}]})
STREAM = orjson.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "abcdefghij"}]})


@pytest.fixture
async def mock():
    async with MockUpstream(stream_chunks=10) as upstream:
        yield upstream


@pytest.fixture
async def client():
    async with HttpClient() as http:
        yield http


async def post(client, mock, body=CHAT, headers=None, timeout=5.0):
    return await client.request("POST", mock.base_url + "/chat/completions", headers=headers or {}, body=body, timeout=timeout)


async def test_status_header_with_retry_after(client, mock):
    resp = await post(client, mock, headers={"x-mock-status": "429", "x-mock-retry-after": "2.5"})
    assert resp.status == 429
    assert resp.headers["retry-after"] == "2" and resp.headers["retry-after-ms"] == "2500"
    assert resp.json()["error"]["type"] == "requests"


async def test_latency_header_delays_the_answer(client, mock):
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await post(client, mock, headers={"x-mock-latency-ms": "150"})
    assert resp.status == 200 and loop.time() - start >= 0.14


async def test_hang_model_never_answers(client, mock):
    with pytest.raises(UpstreamTimeout):
        await post(client, mock, body=orjson.dumps({"model": "mock-hang", "messages": [{"role": "user", "content": "x"}]}), timeout=0.2)


async def test_garbage_header(client, mock):
    resp = await post(client, mock, headers={"x-mock-garbage": "1"})
    assert resp.status == 200
    with pytest.raises(orjson.JSONDecodeError):
        resp.json()


async def test_drop_after_chunks_cuts_the_stream(client, mock):
    events = []
    decoder = SSEDecoder()
    with pytest.raises(UpstreamProtocolError):
        async with client.stream("POST", mock.base_url + "/chat/completions", headers={"x-mock-drop-after-chunks": "3"}, body=STREAM) as resp:
            async for chunk in resp.aiter_bytes():
                events += decoder.feed(chunk)
    assert len(events) == 3


async def test_drop_on_a_plain_answer_cuts_the_body(client, mock):
    with pytest.raises(UpstreamProtocolError):
        await post(client, mock, body=orjson.dumps({"model": "mock-drop", "messages": [{"role": "user", "content": "x"}]}))


async def test_chunk_delay_paces_the_stream(client, mock):
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with client.stream("POST", mock.base_url + "/chat/completions", headers={"x-mock-chunk-delay-ms": "10"}, body=STREAM) as resp:
        body = await resp.aread()
    assert body.endswith(b"data: [DONE]\n\n")
    assert loop.time() - start >= 0.12  # 13 events, 12 gaps of 10 ms


async def test_garbage_stream_is_sse_with_non_json_data(client, mock):
    async with client.stream("POST", mock.base_url + "/chat/completions", headers={"x-mock-garbage": "1"}, body=STREAM) as resp:
        events = SSEDecoder().feed(await resp.aread())
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(events[0].data)


async def test_control_endpoint_faults_apply_to_the_next_n_requests(client, mock):
    resp = await client.request("POST", mock.url + "/_mock/faults", body=orjson.dumps({"status": 503, "count": 2}))
    assert resp.status == 200
    statuses = [(await post(client, mock)).status for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_headers_override_model_and_global_faults(client, mock):
    mock.set_faults(status=500)
    body = orjson.dumps({"model": "mock-429", "messages": [{"role": "user", "content": "x"}]})
    assert (await post(client, mock, body=body)).status == 429
    assert (await post(client, mock, body=body, headers={"x-mock-status": "418"})).status == 418
    assert (await post(client, mock)).status == 500


async def test_unknown_fault_knob_is_rejected(client, mock):
    resp = await client.request("POST", mock.url + "/_mock/faults", body=b'{"statuss": 500}')
    assert resp.status == 400 and "statuss" in resp.text


async def test_stats_and_reset(client, mock):
    await post(client, mock)
    await post(client, mock)
    await client.request("GET", mock.base_url + "/models")
    stats = (await client.request("GET", mock.url + "/_mock/stats")).json()
    assert stats["paths"] == {"/v1/chat/completions": 2, "/v1/models": 1} and stats["total"] == 3
    assert (await client.request("POST", mock.url + "/_mock/reset")).status == 200
    assert (await client.request("GET", mock.url + "/_mock/stats")).json()["total"] == 0


async def test_unknown_path_is_an_openai_404(client, mock):
    resp = await client.request("GET", mock.url + "/v1/nope")
    assert resp.status == 404 and resp.json()["error"]["code"] == "unknown_url"


async def test_keep_alive_serves_many_requests_on_one_connection(client, mock):
    for _ in range(5):
        assert (await post(client, mock)).status == 200
    assert client.pool_stats()[mock.url.replace("http://", "http://")]["open"] == 1


def test_background_thread_for_sync_code():
    import urllib.request

    with MockUpstreamThread(api_key="k") as mock:
        mock.set_faults(status=502, count=1)
        req = urllib.request.Request(mock.base_url + "/models", headers={"authorization": "Bearer k"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 502
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert orjson.loads(resp.read())["object"] == "list"
        assert mock.count("/v1/models") == 2


async def test_rpm_knob_counts_down_and_refuses(client, mock):
    mock.set_faults(rpm=3)
    remaining = []
    for body in (CHAT, STREAM, CHAT):
        resp = await post(client, mock, body=body)
        assert resp.status == 200
        assert resp.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(resp.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    refused = await post(client, mock)
    assert refused.status == 429
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert 19 <= float(refused.headers["retry-after-ms"]) / 1000 <= 20  # one unit back every 20 s
    # The knob also comes as a header; reset() empties the bucket's history.
    mock.reset()
    resp = await post(client, mock, headers={"x-mock-rpm": "10"})
    assert resp.headers["x-ratelimit-remaining-requests"] == "9"


async def test_end_delay_holds_the_body_open_after_the_last_event(client, mock):
    loop = asyncio.get_running_loop()
    async with client.stream("POST", mock.base_url + "/chat/completions", body=STREAM,
                             headers={"x-mock-end-delay-ms": "300"}, timeout=5) as resp:
        seen = b""
        last_event_at = None
        async for piece in resp.aiter_bytes(idle_timeout=5):
            seen += piece
            if last_event_at is None and b"data: [DONE]" in seen:
                last_event_at = loop.time()
        ended_at = loop.time()
    assert last_event_at is not None and ended_at - last_event_at >= 0.25
    assert seen.endswith(b"data: [DONE]\n\n")


async def test_connections_are_counted(mock):
    for _ in range(2):
        async with HttpClient() as http:
            for _ in range(3):
                assert (await post(http, mock)).status == 200
    assert mock.connections == 2 and mock.stats()["connections"] == 2
    mock.reset()
    assert mock.connections == 0
