"""Timeouts against real mock upstreams: hangs, slow first token, idle streams,
streams dropped mid-way, the client's deadline header."""

import http.client
import time
from urllib.parse import urlsplit

import openai
import orjson
import pytest

CHAT = "/v1/chat/completions"


def post_stream(url: str, body: dict, timeout: float = 10) -> tuple[int, str]:
    """POST a streaming chat; the whole SSE body as text (the connection must end)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", CHAT, body=orjson.dumps(body),
                     headers={"authorization": "Bearer sk-m", "content-type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
MESSAGES = [{"role": "user", "content": "one two three four five six"}]


def start(start_gateway, deployments, reliability=None):
    config = {"auth": {"master_key": "sk-m"}, "models": {"gpt": {"deployments": deployments}}}
    config["reliability"] = reliability or {"retry": {"attempts": 1}}
    gateway = start_gateway(config)
    return gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=30)


def test_a_hang_times_out_within_the_client_deadline(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    _, client = start(start_gateway, [openai_deployment(mock)])
    mock.set_faults(hang=True)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt", messages=MESSAGES, extra_headers={"x-switchyard-timeout": "0.5"})
    elapsed = time.monotonic() - started
    assert info.value.status_code == 504
    assert 0.45 <= elapsed < 5


def test_the_config_total_bounds_retries_and_fallbacks(start_mock, start_gateway, openai_deployment):
    a, b = start_mock(), start_mock()
    _, client = start(start_gateway, [openai_deployment(a), openai_deployment(b)],
                      {"timeouts": {"total": 0.6}, "retry": {"attempts": 3}})
    a.set_faults(hang=True)
    b.set_faults(hang=True)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert info.value.status_code == 504
    assert time.monotonic() - started < 5


def test_an_invalid_timeout_header_is_a_400_naming_it(start_mock, start_gateway, openai_deployment):
    _, client = start(start_gateway, [openai_deployment(start_mock())])
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt", messages=MESSAGES, extra_headers={"x-switchyard-timeout": "soon"})
    assert "x-switchyard-timeout" in info.value.message


def test_slow_first_token_falls_back_to_the_next_deployment(start_mock, start_gateway, openai_deployment):
    slow, fast = start_mock(), start_mock()
    _, client = start(start_gateway, [openai_deployment(slow, id="slow"), openai_deployment(fast, id="fast")],
                      {"retry": {"attempts": 1}, "timeouts": {"first_token": 0.3}})
    slow.set_faults(latency_ms=3000)
    for _ in range(2):  # whichever the balancer picks first, the fast one serves
        started = time.monotonic()
        response = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        assert "one two three" in text
        assert response.headers["x-switchyard-deployment"] == "fast"
        assert time.monotonic() - started < 2.5


def test_idle_stream_ends_with_an_error_event(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    gateway, _ = start(start_gateway, [openai_deployment(mock, timeouts={"idle": 0.3})])
    mock.set_faults(chunk_delay_ms=3000)
    started = time.monotonic()
    status, body = post_stream(gateway.url, {"model": "gpt", "messages": MESSAGES, "stream": True})
    assert status == 200
    assert time.monotonic() - started < 3
    events = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert events[0] != "[DONE]" and "[DONE]" not in events
    error = orjson.loads(events[-1])
    assert "error" in error and "no data" in error["error"]["message"]


def test_a_stream_dropped_midway_is_an_error_not_a_complete_looking_answer(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    gateway, client = start(start_gateway, [openai_deployment(mock)])
    mock.set_faults(drop_after_chunks=3)
    status, body = post_stream(gateway.url, {"model": "gpt", "messages": MESSAGES, "stream": True})
    assert status == 200
    events = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    assert "error" in orjson.loads(events[-1])
    assert not any('"finish_reason":"stop"' in e for e in events)
    with pytest.raises(openai.APIError):  # the SDK surfaces it as an error too
        list(client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True))


def test_a_stream_dropped_before_its_first_chunk_falls_back_invisibly(start_mock, start_gateway, openai_deployment):
    broken, good = start_mock(), start_mock()
    _, client = start(start_gateway, [openai_deployment(broken, id="broken"), openai_deployment(good, id="good")])
    broken.set_faults(drop_after_chunks=0)
    for _ in range(2):
        response = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES, stream=True)
        chunks = list(response.parse())
        assert "one two three" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert response.headers["x-switchyard-deployment"] == "good"


LONG = [{"role": "user", "content": " ".join(f"w{i}" for i in range(40))}]


@pytest.mark.parametrize("where", ["header", "config"])
def test_the_total_deadline_bounds_a_whole_stream_not_just_its_first_chunk(start_mock, start_gateway, openai_deployment,
                                                                           where):
    mock = start_mock()
    reliability = {"retry": {"attempts": 1}}
    if where == "config":
        reliability["timeouts"] = {"total": 1.0}
    gateway, _ = start(start_gateway, [openai_deployment(mock, timeouts={"idle": 5})], reliability)
    mock.set_faults(chunk_delay_ms=150)  # ~6 s for the whole answer, never idle for long
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    headers = {"authorization": "Bearer sk-m", "content-type": "application/json"}
    if where == "header":
        headers["x-switchyard-timeout"] = "1"
    started = time.monotonic()
    try:
        conn.request("POST", CHAT, body=orjson.dumps({"model": "gpt", "messages": LONG, "stream": True}), headers=headers)
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    assert response.status == 200
    assert 0.9 <= elapsed < 4, elapsed  # at the deadline, far before the answer's end or the idle bound
    events = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert len(events) >= 3 and "[DONE]" not in events  # it had started, and does not look complete
    error = orjson.loads(events[-1])["error"]
    assert "total deadline" in error["message"] and error["code"] == "upstream_timeout"
