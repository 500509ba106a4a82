"""Each error class as the official SDK raises it, in OpenAI's error shape."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread

MASTER = "sk-master-errors"
CLIENT_KEY = "sk-client-errors"
UPSTREAM_KEY = "sk-upstream-SECRET-4242"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _EchoingUpstream(BaseHTTPRequestHandler):
    """An upstream whose error messages echo the request headers, as careless servers do."""

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        status = 401 if body.get("model") == "echo-401" else 500
        echoed = f"Incorrect API key provided: {self.headers.get('authorization')} (headers: {dict(self.headers)})"
        payload = json.dumps({"error": {"message": echoed, "type": "invalid_request_error",
                                        "param": None, "code": "invalid_api_key"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def echoing_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(api_key=UPSTREAM_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock, echoing_upstream) -> Iterator[GatewayThread]:
    def at(model: str, base_url: str = mock.base_url, **extra) -> dict:
        return {"deployments": [{"provider": "openai", "model": model, "base_url": base_url,
                                 "api_key": UPSTREAM_KEY, **extra}]}

    config = {
        "server": {"max_body_bytes": 4096},
        "auth": {"master_key": MASTER, "keys": [{"key": CLIENT_KEY, "name": "limited", "models": ["gpt"]}]},
        "models": {
            "gpt": at("gpt-4o-mini"),
            "limited-out": at("gpt-4o-mini"),
            "rate-limited": at("mock-429"),
            "server-error": at("mock-500"),
            "unavailable": at("mock-503"),
            "slow": at("mock-slow", timeouts={"request": 0.3}),
            "refused": at("gpt-4o-mini", base_url=f"http://127.0.0.1:{_closed_port()}/v1"),
            "echo-401": at("echo-401", base_url=echoing_upstream),
            "echo-500": at("echo-500", base_url=echoing_upstream),
            "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
        },
    }
    with GatewayThread(config) as running:
        yield running


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=20)


HI = [{"role": "user", "content": "hi"}]


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    assert "Traceback" not in exc.response.text
    return body["error"]


def _still_serving(client: openai.OpenAI) -> None:
    assert client.chat.completions.create(model="gpt", messages=HI).choices[0].message.content == "hi"


def test_malformed_json_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/chat/completions", cast_to=object, content=b'{"model": "gpt", "messages": [',
                     options={"headers": {"content-type": "application/json"}})
    error = _error(info.value)
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"
    _still_serving(client)


def test_schema_violation_is_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt", messages=HI, temperature=5)
    assert info.value.param == "temperature" and "temperature" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": 42}])  # type: ignore[list-item]
    assert info.value.param == "messages[0].content"


def test_body_over_the_limit_is_413(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x" * 5000}])
    assert info.value.status_code == 413
    assert _error(info.value)["code"] == "payload_too_large"
    _still_serving(client)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=HI)
    assert info.value.code == "model_not_found" and info.value.param == "model"


def test_missing_and_wrong_keys_are_401(client):
    for headers in ({"Authorization": openai.Omit()}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic x"},
                    {"Authorization": openai.Omit(), "x-api-key": "sk-wrong"}):
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model="gpt", messages=HI, extra_headers=headers)
        assert _error(info.value)["type"] == "authentication_error"
        assert "sk-wrong" not in info.value.response.text
    _still_serving(client)


def test_x_api_key_header_and_model_allowlist(client):
    as_limited = {"Authorization": openai.Omit(), "x-api-key": CLIENT_KEY}
    reply = client.chat.completions.create(model="gpt", messages=HI, extra_headers=as_limited)
    assert reply.choices[0].message.content == "hi"
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="limited-out", messages=HI, extra_headers=as_limited)
    assert info.value.code == "model_not_allowed"
    assert [m.id for m in client.models.list(extra_headers=as_limited)] == ["gpt"]
    with pytest.raises(openai.PermissionDeniedError):
        client.models.retrieve("limited-out", extra_headers=as_limited)


def test_upstream_429_keeps_retry_after(client):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="rate-limited", messages=HI)
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.response.headers["retry-after-ms"] == "1000"
    assert _error(info.value)["type"] == "rate_limit_error"
    with pytest.raises(openai.RateLimitError):  # before the first byte of a stream, too
        list(client.chat.completions.create(model="rate-limited", messages=HI, stream=True))


@pytest.mark.parametrize("model", ["server-error", "unavailable", "refused"])
def test_upstream_failure_or_refused_connection_is_502(client, model):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=model, messages=HI)
    assert info.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as info:
        list(client.chat.completions.create(model=model, messages=HI, stream=True))
    assert info.value.status_code == 502
    _still_serving(client)


def test_upstream_timeout_is_504(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="slow", messages=HI)
    assert info.value.status_code == 504
    assert _error(info.value)["type"] == "timeout"
    with pytest.raises(openai.InternalServerError) as info:
        list(client.chat.completions.create(model="slow", messages=HI, stream=True))
    assert info.value.status_code == 504
    _still_serving(client)


def test_missing_capability_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="fake/echo", prompt="x")
    assert info.value.code == "capability_missing" and info.value.param == "model"


@pytest.mark.parametrize("model", ["echo-401", "echo-500"])
def test_upstream_key_never_reaches_the_client_or_the_logs(client, caplog, capfd, model):
    caplog.set_level(logging.DEBUG)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as info:
            if stream:
                list(client.chat.completions.create(model=model, messages=HI, stream=True))
            else:
                client.chat.completions.create(model=model, messages=HI)
        text = info.value.response.text
        assert UPSTREAM_KEY not in text
        assert "Incorrect API key provided" in text  # the upstream's message still helps, minus the key
        assert UPSTREAM_KEY not in str(info.value)
    out, err = capfd.readouterr()
    assert UPSTREAM_KEY not in out + err
    assert all(UPSTREAM_KEY not in record.getMessage() for record in caplog.records)
    assert UPSTREAM_KEY not in caplog.text
