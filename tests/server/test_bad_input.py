"""The bad-input suite: raw HTTP the SDK would never send, and upstreams that misbehave.

Every case gets its clear error in OpenAI's shape, and the server answers a good
request right after it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import RawResponse, request, send_bytes

KEY = "sk-bad-input"
AUTH = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
GOOD = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "still here"}]})


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(stream_chunks=8) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock) -> Iterator[GatewayThread]:
    def at(model: str) -> dict:
        return {"deployments": [{"provider": "openai", "model": model, "base_url": mock.base_url, "api_key": "sk-up"}]}

    config = {
        "server": {"max_body_bytes": 4096},
        "auth": {"master_key": KEY},
        "models": {"gpt": at("gpt-4o-mini"), "garbage": at("mock-garbage"), "drop": at("mock-drop")},
    }
    with GatewayThread(config) as running:
        yield running


def post(gateway: GatewayThread, body: bytes, headers: dict[str, str] | None = None,
         path: str = "/v1/chat/completions") -> RawResponse:
    return request(gateway.url, "POST", path, body, {**AUTH, **(headers or {})})


def assert_error(response: RawResponse, status: int, *, param: str | None = None, code: str | None = None) -> dict:
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["message"] and error["type"]
    assert b"Traceback" not in response.body
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


def assert_serving(gateway: GatewayThread) -> None:
    response = post(gateway, GOOD)
    assert response.status == 200, response.body
    assert response.json()["choices"][0]["message"]["content"] == "still here"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "gpt"}, "messages"),
        ({"model": "gpt", "messages": []}, "messages"),
        ({"model": "gpt", "messages": None}, "messages"),
        ({"model": "gpt", "messages": [{"role": "user", "content": ["not an object"]}]}, "messages[0].content[0]"),
        ({"model": "gpt", "messages": [{"role": 1, "content": "x"}]}, "messages[0].role"),
        ({"model": ["gpt"], "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt", "messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}, "max_tokens"),
        ({"model": "gpt", "messages": [{"role": "user", "content": "x"}], "stream": 1}, "stream"),
    ],
)
def test_schema_errors_name_the_field(gateway, body, param):
    error = assert_error(post(gateway, orjson.dumps(body)), 400, param=param)
    assert error["type"] == "invalid_request_error"
    assert_serving(gateway)


@pytest.mark.parametrize(
    "raw, phrase",
    [
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "UTF-8"),
        (b"\xc3\x28", "UTF-8"),
        (b"", "JSON"),
        (b"{", "JSON"),
        (b"model=gpt", "JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'"a string"', "JSON object"),
        (b"null", "JSON object"),
    ],
)
def test_bodies_that_are_not_a_json_object(gateway, raw, phrase):
    error = assert_error(post(gateway, raw), 400, code="invalid_json")
    assert phrase in error["message"]
    assert_serving(gateway)


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/completions"])
def test_other_endpoints_validate_too(gateway, path):
    field = "input" if "embed" in path else "prompt"
    assert_error(post(gateway, orjson.dumps({"model": "gpt", field: 5}), path=path), 400, param=field)
    assert_error(post(gateway, b'{"model": "gpt", "input": []}', path="/v1/embeddings"), 400, param="input")
    assert_error(post(gateway, b"[]", path=path), 400, code="invalid_json")
    assert_serving(gateway)


def test_oversized_body_declared_by_content_length(gateway):
    big = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "x" * 10_000}]})
    assert_error(post(gateway, big), 413, code="payload_too_large")
    assert_serving(gateway)


def test_oversized_body_sent_chunked_without_a_length(gateway):
    parts = urlsplit(gateway.url)
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in [b"{" + b" " * 2000] * 4) + b"0\r\n\r\n"
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parts.netloc}\r\nauthorization: Bearer {KEY}\r\n"
            "content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode()
    answer = send_bytes(gateway.url, head + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer
    assert_serving(gateway)


def test_small_chunked_body_is_read_whole(gateway):
    parts = urlsplit(gateway.url)
    pieces = [GOOD[:10], GOOD[10:30], GOOD[30:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parts.netloc}\r\nauthorization: Bearer {KEY}\r\n"
            "transfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode()
    answer = send_bytes(gateway.url, head + body)
    assert answer.startswith(b"HTTP/1.1 200") and b"still here" in answer


def test_unknown_model_and_bad_key(gateway):
    body = orjson.dumps({"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert_error(post(gateway, body), 404, param="model", code="model_not_found")
    assert_error(post(gateway, GOOD, {"authorization": "Bearer sk-nope"}), 401)
    assert_error(request(gateway.url, "POST", "/v1/chat/completions", GOOD, {"content-type": "application/json"}), 401,
                 code="missing_api_key")
    assert_error(request(gateway.url, "GET", "/v1/chat/completions", headers=AUTH), 405)
    assert_error(request(gateway.url, "GET", "/v2/nothing", headers=AUTH), 404)
    assert_serving(gateway)


def test_bad_key_is_checked_before_the_body_is_read(gateway):
    big = b"x" * 100_000
    assert_error(post(gateway, big, {"authorization": "Bearer sk-nope"}), 401)
    assert_serving(gateway)


def test_not_http_at_all(gateway):
    answer = send_bytes(gateway.url, b"\x16\x03\x01 garbage that is not HTTP\r\n\r\n")
    assert not answer.startswith(b"HTTP/1.1 200")
    assert_serving(gateway)


def test_upstream_non_json_body_is_502(gateway):
    body = orjson.dumps({"model": "garbage", "messages": [{"role": "user", "content": "x"}]})
    error = assert_error(post(gateway, body), 502)
    assert error["code"] in ("upstream_bad_response", "all_deployments_failed")  # the latter after retries
    assert "not JSON" in error["message"]
    assert_serving(gateway)


def test_upstream_garbage_sse_is_an_error_not_a_chunk(gateway):
    body = orjson.dumps({"model": "garbage", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    response = post(gateway, body)
    # the garbage arrives before the first good byte, so the client gets a plain error response
    error = assert_error(response, 502)
    assert error["code"] in ("upstream_bad_response", "all_deployments_failed")  # the latter after retries
    assert "not JSON" in error["message"]
    assert b"{not json" not in response.body
    assert_serving(gateway)


def _events(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


def test_stream_dropped_midway_ends_with_an_error_event(gateway):
    body = orjson.dumps({"model": "drop", "stream": True, "messages": [{"role": "user", "content": "a long answer"}]})
    response = post(gateway, body)
    assert response.status == 200
    events = _events(response.body)
    assert b"[DONE]" not in events, "a broken stream must never look complete"
    last = orjson.loads(events[-1])
    # the cause's code, as the same drop reads before the first byte (README: Errors)
    assert last["error"]["code"] == "upstream_bad_response" and last["error"]["type"] == "api_error"
    assert "closed the connection mid-response" in last["error"]["message"]
    assert all("choices" in orjson.loads(e) for e in events[:-1]) and len(events) > 1
    assert_serving(gateway)


def _read_until(sock: socket.socket, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data:
        assert time.monotonic() < deadline, "timed out waiting for the stream"
        piece = sock.recv(65536)
        assert piece, "the server closed the connection"
        data += piece
    return data


def test_client_disconnect_mid_stream_stops_the_upstream(start_mock, start_gateway):
    slow = start_mock(stream_chunks=1000, chunk_delay_ms=20)
    gateway = start_gateway({"models": {"gpt": {"deployments": [
        {"provider": "openai", "model": "gpt-4o-mini", "base_url": slow.base_url, "api_key": "k"}]}}})
    parts = urlsplit(gateway.url)
    body = orjson.dumps({"model": "gpt", "stream": True,
                         "messages": [{"role": "user", "content": "word " * 400}]})
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    deadline = time.monotonic() + 20
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head + body)
        _read_until(sock, b"data: ", deadline)
        assert len(slow.mock._protocols) == 1  # type: ignore[union-attr]
    # 1000 chunks at 20 ms would take 20 s; the gateway must hang up on the upstream long before
    deadline = time.monotonic() + 5
    while slow.mock._protocols:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the gateway kept reading the upstream after the client left"
        time.sleep(0.01)
    state = gateway._server.server_state  # uvicorn's: the tasks still running requests
    while state.tasks:
        assert time.monotonic() < deadline, f"request tasks leaked after the disconnect: {state.tasks}"
        time.sleep(0.01)
    good = request(gateway.url, "POST", "/v1/chat/completions",
                   orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "next"}]}),
                   {"content-type": "application/json"})
    assert good.status == 200 and good.json()["choices"][0]["message"]["content"] == "next"
    assert slow.count("/v1/chat/completions") == 2


@pytest.mark.parametrize("name", ["fake/a\u0000b", "fake/a\nb", "fake/a\x7fb", "fake/a\rb"])
def test_a_model_name_with_a_control_character_is_a_400(start_gateway, name):
    """On a wildcard alias the name would reach a response header (x-switchyard-route)."""
    gateway = start_gateway({"models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}})
    body = orjson.dumps({"model": name, "messages": [{"role": "user", "content": "hi"}]})
    assert_error(request(gateway.url, "POST", "/v1/chat/completions", body, {}), 400, param="model")
    streamed = orjson.dumps({"model": name, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert_error(request(gateway.url, "POST", "/v1/chat/completions", streamed, {}), 400, param="model")
    assert_error(request(gateway.url, "POST", "/v1/messages", orjson.dumps(
        {"model": name, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}), {}), 400)


def test_a_huge_model_name_is_refused_without_being_echoed(start_gateway):
    gateway = start_gateway({"models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}})
    name = "fake/" + "x" * 1_000_000
    body = orjson.dumps({"model": name, "messages": [{"role": "user", "content": "hi"}]})
    response = request(gateway.url, "POST", "/v1/chat/completions", body, {})
    assert_error(response, 400, param="model")
    assert len(response.body) < 2_000
    missing = request(gateway.url, "POST", "/v1/chat/completions",
                      orjson.dumps({"model": "y" * 256, "messages": [{"role": "user", "content": "hi"}]}), {})
    assert_error(missing, 404) and len(missing.body) < 2_000


@pytest.mark.parametrize("body", [
    {"messages": [{"role": "user", "content": [{"type": 1, "text": "x"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
    {"messages": [{"role": "user", "content": [{"type": "nope"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "file", "file": "not-an-object"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": [1]}]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "low"}}]}]},
    {"messages": [{"role": "system", "content": [{"type": "text", "text": None}]}, {"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": [1]}]},
    {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]},
    {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"description": "x"}}]},
    {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}]},
])
@pytest.mark.parametrize("model", ["fake/echo", "claude", "gemini"])
def test_a_malformed_part_or_tool_is_a_400_for_every_upstream_format(formats_gateway, body, model):
    """Checked at the edge: no translator (fake, Anthropic, Gemini) ever sees it."""
    response = request(formats_gateway.url, "POST", "/v1/chat/completions", orjson.dumps({"model": model, **body}), {})
    error = assert_error(response, 400, code="invalid_value")
    assert error["param"] and (error["param"].startswith("messages") or error["param"].startswith("tools"))


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("body, param", [
    # each crashed a translator (500) before the edge typed it; found by probing every format
    ({"tool_choice": {"type": "function", "function": "f"}, "tools": TOOLS}, "tool_choice.function"),
    ({"tool_choice": {"type": "function"}, "tools": TOOLS}, "tool_choice.function"),
    ({"tool_choice": "sometimes", "tools": TOOLS}, "tool_choice"),
    ({"response_format": {"type": "json_schema", "json_schema": 5}}, "response_format.json_schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 5}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"frequency_penalty": "x"}, "frequency_penalty"),
    ({"logit_bias": {"1": "ban"}}, "logit_bias"),
    ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ({"parallel_tool_calls": "yes", "tools": TOOLS}, "parallel_tool_calls"),
    ({"function_call": {"name": 5}}, "function_call.name"),
    ({"prediction": {"type": "content", "content": 5}}, "prediction.content"),
])
@pytest.mark.parametrize("model", ["fake/echo", "claude", "gemini", "bedrock", "cohere", "ollama"])
def test_a_malformed_field_is_a_400_for_every_upstream_format(formats_gateway, body, param, model):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    response = request(formats_gateway.url, "POST", "/v1/chat/completions", orjson.dumps(body), {})
    assert assert_error(response, 400, code="invalid_value")["param"] == param


@pytest.fixture(scope="module")
def formats_gateway() -> Iterator[GatewayThread]:
    """A deployment of every wire format (never reached: the edge refuses first)."""
    nowhere = "http://127.0.0.1:9"
    aws = {"aws_access_key_id": "AKIAX", "aws_secret_access_key": "s", "aws_region": "us-east-1"}
    config = {"models": {
        "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
        "claude": {"deployments": [{"provider": "anthropic", "model": "claude-x", "base_url": nowhere,
                                    "api_key": "k"}]},
        "gemini": {"deployments": [{"provider": "gemini", "model": "gemini-x", "base_url": nowhere,
                                    "api_key": "k"}]},
        "bedrock": {"deployments": [{"provider": "bedrock", "model": "anthropic.claude-x", "base_url": nowhere,
                                     "options": aws}]},
        "cohere": {"deployments": [{"provider": "cohere", "model": "command-x", "base_url": nowhere, "api_key": "k"}]},
        "ollama": {"deployments": [{"provider": "ollama_chat", "model": "llama-x", "base_url": nowhere}]},
    }}
    with GatewayThread(config) as running:
        yield running
