"""The access log end to end: a real gateway on loopback, its log output captured.

Exactly one line per request — plain, streamed, 4xx, 404, a fallback, an
exhausted chain, an error event mid-stream, a client that hangs up — with the
fields an operator needs, in both formats, and never a key or a prompt.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from switchyard.core.config import LoggingConfig
from switchyard.observe.logs import LogSetup, parse_kv, setup_logging
from switchyard.server.http import Response
from switchyard.server.routes import Handler
from tests.server.raw_http import request as raw_request

MASTER = "sk-master-DISTINCT-5555"
CLIENT_KEY = "sk-client-DISTINCT-7777"
UPSTREAM_KEY = "sk-upstream-DISTINCT-9931"
PROMPT = "PROMPT-TEXT-ZEBRA-31"
SECRETS = (MASTER, CLIENT_KEY, UPSTREAM_KEY, "DISTINCT")
CHAT = "/v1/chat/completions"


class Captured:
    """The lines one ``setup_logging`` wrote."""

    def __init__(self, stream: io.StringIO, fmt: str) -> None:
        self.stream = stream
        self.fmt = fmt

    def records(self) -> list[dict[str, Any]]:
        lines = [line for line in self.stream.getvalue().splitlines() if line]
        return [orjson.loads(line) if self.fmt == "json" else parse_kv(line) for line in lines]

    def access(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Exactly ``count`` access lines (waits for them: a line follows the answer's last byte)."""
        deadline = time.monotonic() + timeout
        while len(self._access()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # and no more than that
        lines = self._access()
        assert len(lines) == count, lines
        return lines

    def _access(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["logger"] == "switchyard.access"]

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def capture() -> Iterator[Callable[..., Captured]]:
    setups: list[LogSetup] = []

    def start(**settings: Any) -> Captured:
        stream = io.StringIO()
        config = LoggingConfig(**settings)
        setups.append(setup_logging(config, "info", stream=stream))
        return Captured(stream, config.format)

    yield start
    for setup in reversed(setups):
        setup.close()


def gateway_config(*mocks: Any, logging: dict[str, Any] | None = None, **models: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "auth": {"master_key": MASTER, "keys": [{"key": CLIENT_KEY, "name": "team-a"}]},
        "reliability": {"retry": {"attempts": 1}},
        "models": models or {"gpt": {"deployments": [deployment(mocks[0], "gpt-1")]}},
    }
    if logging:
        config["logging"] = logging
    return config


def deployment(mock: Any, ident: str) -> dict[str, Any]:
    return {"id": ident, "provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
            "api_key": UPSTREAM_KEY}


def post(gateway: Any, body: dict[str, Any], key: str = CLIENT_KEY, path: str = CHAT) -> Any:
    return raw_request(gateway.url, "POST", path, orjson.dumps(body),
                       {"content-type": "application/json", "authorization": f"Bearer {key}"})


def chat(stream: bool = False, model: str = "gpt") -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}


def assert_clean(captured: Captured) -> None:
    for secret in SECRETS:
        assert secret not in captured.text
    assert PROMPT not in captured.text


def test_one_kv_line_per_request_with_its_fields(capture, mock_upstream, start_gateway):
    captured = capture()
    gateway = start_gateway(gateway_config(mock_upstream))
    plain = post(gateway, chat())
    streamed = post(gateway, chat(stream=True))
    assert plain.status == streamed.status == 200
    first, second = captured.access(2)
    assert first["request_id"] == plain.headers["x-request-id"]
    assert second["request_id"] == streamed.headers["x-request-id"]
    for line in (first, second):
        assert line["level"] == "info" and line["msg"] == "request"
        assert line["method"] == "POST" and line["path"] == CHAT and line["status"] == "200"
        assert float(line["latency_ms"]) > 0
        assert line["key_name"] == "team-a"
        assert line["deployment"] == "gpt-1"
        assert line["fallback"] == "false" and line["cache"] == "false"
        assert "fallback_alias" not in line and "error" not in line
    assert first["stream"] == "false" and "outcome" not in first
    assert second["stream"] == "true" and second["outcome"] == "ok"
    for line in (first, second):  # filled by the pipeline: resolve (alias) and account (usage, streams too)
        assert line["alias"] == "gpt" and int(line["total_tokens"]) > 0 and line["attempts"] == "1"
    assert_clean(captured)


def test_json_lines_parse_and_carry_typed_fields(capture, mock_upstream, start_gateway):
    captured = capture(format="json")
    gateway = start_gateway(gateway_config(mock_upstream, logging={"format": "json"}))
    assert post(gateway, chat()).status == 200
    (line,) = captured.access(1)
    assert line["status"] == 200 and isinstance(line["latency_ms"], float)
    assert line["stream"] is False and line["cache"] is False and line["fallback"] is False
    assert line["key_name"] == "team-a" and line["deployment"] == "gpt-1"
    assert line["ts"].endswith("Z")
    assert_clean(captured)


def test_client_errors_and_unknown_paths_get_one_line_each(capture, mock_upstream, start_gateway):
    captured = capture()
    gateway = start_gateway(gateway_config(mock_upstream))
    bad_key = "sk-wrong-DISTINCT-1234"
    assert post(gateway, chat(), key=bad_key).status == 401
    assert post(gateway, {"model": "gpt", "messages": "not a list"}).status == 400
    assert post(gateway, chat(model="nope")).status == 404
    assert post(gateway, chat(), path="/v1/nowhere").status == 404
    unauthorized, invalid, unknown_model, unknown_path = captured.access(4)
    assert unauthorized["status"] == "401" and "key_name" not in unauthorized
    assert unauthorized["error"] == "invalid_api_key"
    assert invalid["status"] == "400" and invalid["key_name"] == "team-a"
    assert unknown_model["status"] == "404" and unknown_model["key_name"] == "team-a"
    assert unknown_path["status"] == "404" and unknown_path["path"] == "/v1/nowhere"
    assert unknown_path["error"] == "unknown_url"
    assert "deployment" not in unknown_path
    assert_clean(captured)


def test_a_fallback_and_an_exhausted_chain(capture, start_mock, start_gateway):
    primary, backup = start_mock(), start_mock()
    captured = capture()
    gateway = start_gateway(gateway_config(
        main={"deployments": [deployment(primary, "main-1")], "fallbacks": ["backup"]},
        backup={"deployments": [deployment(backup, "backup-1")]},
    ))
    primary.set_faults(status=503)
    assert post(gateway, chat(model="main")).status == 200
    backup.set_faults(status=503)
    failed = post(gateway, chat(model="main"))
    assert failed.status >= 500
    served, exhausted = captured.access(2)
    assert served["status"] == "200" and served["fallback"] == "true"
    assert served["fallback_alias"] == "backup" and served["deployment"] == "backup-1"
    assert exhausted["status"] == str(failed.status) and exhausted["error"] == "all_deployments_failed"
    assert exhausted["attempts"] == "2" and exhausted["deployment"] == "backup-1"
    assert exhausted["fallback"] == "false"
    assert_clean(captured)


def test_an_error_event_mid_stream_is_the_streams_outcome(capture, start_mock, start_gateway):
    mock = start_mock(stream_chunks=10)
    captured = capture()
    gateway = start_gateway(gateway_config(mock))
    mock.set_faults(drop_after_chunks=3)
    response = post(gateway, chat(stream=True))
    assert response.status == 200 and b"error" in response.body
    (line,) = captured.access(1)
    assert line["status"] == "200" and line["stream"] == "true"
    assert line["outcome"] == "error" and line["error_status"] == "502"
    assert line["error"]
    assert_clean(captured)


def test_a_client_that_hangs_up_mid_stream_gets_one_line(capture, start_mock, start_gateway):
    slow = start_mock(stream_chunks=1000, chunk_delay_ms=10)
    captured = capture()
    gateway = start_gateway(gateway_config(slow))
    parts = urlsplit(gateway.url)
    body = orjson.dumps(chat(stream=True))
    head = (f"POST {CHAT} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {CLIENT_KEY}\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"data: " not in data:
            data += sock.recv(65536)
    (line,) = captured.access(1)
    assert line["stream"] == "true" and line["outcome"] == "disconnect" and line["status"] == "200"
    assert line["deployment"] == "gpt-1" and line["key_name"] == "team-a"
    assert_clean(captured)


def test_prompts_only_when_asked_for(capture, mock_upstream, start_gateway):
    captured = capture(include_prompts=True, prompt_max_chars=200)
    gateway = start_gateway(gateway_config(mock_upstream, logging={"include_prompts": True, "prompt_max_chars": 200}))
    assert post(gateway, chat()).status == 200
    long = {"model": "gpt", "messages": [{"role": "user", "content": "x" * 1000}]}
    assert post(gateway, long).status == 200
    short, cut = captured.access(2)
    assert PROMPT in short["messages"] and orjson.loads(short["messages"])["messages"][0]["content"] == PROMPT
    assert len(cut["messages"]) == 201 and cut["messages"].endswith("…")
    for secret in SECRETS:
        assert secret not in captured.text


def test_the_access_log_can_be_turned_off_and_follows_the_level(capture, mock_upstream, start_gateway):
    captured = capture()
    gateway = start_gateway(gateway_config(mock_upstream, logging={"access_log": False}))
    assert post(gateway, chat()).status == 200
    captured.access(0)
    setup = setup_logging(LoggingConfig(), "warning", stream=captured.stream)
    try:
        on = start_gateway(gateway_config(mock_upstream))
        assert post(on, chat()).status == 200
        captured.access(0)
    finally:
        setup.close()


def test_uvicorn_writes_no_access_line_of_its_own(capture, mock_upstream, start_gateway):
    captured = capture()
    gateway = start_gateway(gateway_config(mock_upstream))
    assert post(gateway, chat()).status == 200
    captured.access(1)
    assert not [r for r in captured.records() if r["logger"].startswith("uvicorn.access")]


def test_an_unhandled_error_is_logged_with_its_request_id(capture, mock_upstream, start_gateway):
    captured = capture()
    gateway = start_gateway(gateway_config(mock_upstream))

    async def broken(request: Any) -> Response:
        raise RuntimeError(f"boom with Bearer {CLIENT_KEY}")

    gateway.app.routes.add("POST", "/v1/broken", Handler(broken))
    response = post(gateway, {}, path="/v1/broken")
    assert response.status == 500
    (line,) = captured.access(1)
    assert line["status"] == "500" and line["error"] == "internal_error"
    (error,) = [r for r in captured.records() if r["msg"] == "unhandled error"]
    assert error["level"] == "error" and error["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError" in error["exc"] and "[redacted]" in error["exc"]
    assert_clean(captured)


def test_the_line_has_alias_attempts_and_tokens_from_the_pipeline(capture, start_mock, start_gateway):
    """The route links its Call; the resolve stage fills ``alias``, the account stage ``usage``."""
    flaky, good = start_mock(), start_mock()
    captured = capture(format="json")
    gateway = start_gateway(gateway_config(gpt={"deployments": [deployment(flaky, "flaky"), deployment(good, "good")]},
                                           logging={"format": "json"}))
    flaky.set_faults(status=503)
    response = post(gateway, chat())
    assert response.status == 200
    (line,) = captured.access(1)
    usage = orjson.loads(response.body)["usage"]
    assert line["alias"] == "gpt" and line["deployment"] in {"flaky", "good"}
    assert line["prompt_tokens"] == usage["prompt_tokens"] and line["total_tokens"] == usage["total_tokens"]
    assert line["attempts"] == (2 if line["deployment"] == "good" and flaky.count(CHAT) else 1)
    assert_clean(captured)
