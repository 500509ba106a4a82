"""Secrets in the config — deployment ``headers`` values (often ``Authorization``)
and a password inside ``redis.url`` — never print: not in a config's repr, not in
``check-config`` output, not in an error a client sees. Adapters still send them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
import yaml

from switchyard.cli.main import main
from switchyard.core.config import DeploymentConfig
from switchyard.core.config.loader import parse_config
from switchyard.core.registry import Registry

HEADER_SECRET = "hdr-SECRET-5150"
REDIS_PASSWORD = "pw-SECRET-8086"


def _raw(base_url: str = "http://127.0.0.1:9/v1") -> dict:
    return {
        "redis": {"url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6399/0"},
        "models": {"gpt": {"deployments": [{
            "provider": "openai", "model": "gpt-4o-mini", "base_url": base_url, "api_key": "sk-up",
            "headers": {"Authorization": f"Bearer {HEADER_SECRET}", "X-Team": "blue"}}]}},
    }


def _assert_clean(text: str) -> None:
    assert HEADER_SECRET not in text and REDIS_PASSWORD not in text


def test_config_repr_and_str_hide_header_values_and_the_redis_url():
    config = parse_config(_raw())
    deployment = config.models["gpt"].deployments[0]
    for text in (repr(config), str(config), repr(deployment), str(deployment.headers), repr(config.redis)):
        _assert_clean(text)
    assert config.redis.url.get_secret_value().endswith("@127.0.0.1:6399/0")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "bedrock", "ollama_chat"])
def test_adapters_send_the_secret_values(provider):
    extra = {"options": {"region": "us-east-1"}} if provider == "bedrock" else {}
    config = DeploymentConfig.model_validate({"provider": provider, "model": "m", "base_url": "http://127.0.0.1:9",
                                              "api_key": "k", "headers": {"X-Gateway-Token": HEADER_SECRET}, **extra})
    adapter = Registry(use_entry_points=False).get(provider)(config, None)
    sent = getattr(adapter, "extra", None) or adapter.headers
    assert sent["x-gateway-token"] == HEADER_SECRET


def test_check_config_output_never_shows_them(tmp_path, capsys):
    path = tmp_path / "switchyard.yaml"
    raw = _raw()
    raw["models"]["gpt"]["deployments"][0]["timeouts"] = {"conect": 1}  # a problem, so the errors print
    raw["redis"]["url"] = f"http://:{REDIS_PASSWORD}@127.0.0.1:6399/0"  # wrong scheme: named, never echoed
    path.write_text(yaml.safe_dump(raw))
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "redis.url" in err and "redis://" in err and "models.gpt.deployments[0].timeouts.conect" in err
    _assert_clean(out + err)
    path.write_text(yaml.safe_dump(_raw()))
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    _assert_clean(out + err)


class _EchoingUpstream(BaseHTTPRequestHandler):
    """Refuses every request, echoing the request's headers in its message (as careless servers do)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        payload = json.dumps({"error": {"message": f"bad credentials: {dict(self.headers)}",
                                        "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echoing_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_echoing_a_header_secret_never_shows_it_to_the_client(start_gateway, echoing_upstream, stream):
    raw = _raw(echoing_upstream)
    del raw["redis"]
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, **raw})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], stream=True))
        else:
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and "bad credentials" in info.value.response.text  # the upstream's words...
    _assert_clean(info.value.response.text)  # ...without the secret it echoed


class _EchoingAnyStatus(BaseHTTPRequestHandler):
    """Fails with the status named in the first path segment (``/s500/...``), echoing
    the request's headers in its error message, whatever the wire format."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status = int(self.path.split("/")[1][1:])
        payload = json.dumps({"type": "error", "error": {"type": "api_error",
                                                         "message": f"upstream trouble: {dict(self.headers)}"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
@pytest.mark.parametrize("status", [400, 500])
def test_no_adapter_lets_an_echoed_key_reach_the_client(start_gateway, provider, status):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingAnyStatus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/s{status}" + ("/v1" if provider == "openai" else "")
        deployment = {"provider": provider, "model": "m", "base_url": base, "api_key": HEADER_SECRET}
        gateway = start_gateway({"auth": {"master_key": "sk-m"}, "models": {"gpt": {"deployments": [deployment]}}})
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
        assert "upstream trouble" in info.value.response.text  # the upstream's words, retries included...
        _assert_clean(info.value.response.text)  # ...without the key it echoed
    finally:
        server.shutdown()
        server.server_close()
