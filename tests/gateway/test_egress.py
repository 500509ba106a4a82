"""The gateway in front of HTTPS upstreams, through proxies, over HTTP/2: what a
client sees through the official SDK, and what the deployment's health records."""

from __future__ import annotations

import logging
import threading

import openai
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.observe.logs import LineFormatter
from switchyard.transport.upstreams import Upstreams
from tests.policies.upstreams import get_json
from tests.transport.connect_proxy import ConnectProxyThread

MESSAGES = [{"role": "user", "content": "hello egress"}]
SECRET = "proxy-SECRET-8118"
NO_RETRY = {"retry": {"attempts": 1}}


def deployment(mock: MockUpstreamThread, **extra) -> dict:
    return {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-up", **extra}


def client_for(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)


@pytest.fixture
def https_mock(certs, start_mock):
    return start_mock(ssl=certs.server_context())


def test_the_configured_ca_is_trusted_for_chat_and_streams(certs, https_mock, start_gateway):
    gateway = start_gateway({"tls": {"ca_file": certs.ca_file},
                             "models": {"gpt": {"deployments": [deployment(https_mock)]}}})
    client = client_for(gateway)
    assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices[0].message.content == "hello egress"
    stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hello egress"
    assert https_mock.mock.tls_handshakes == 1  # both on one pooled TLS connection


def test_an_untrusted_upstream_is_a_clear_502_and_counts_against_the_deployment(https_mock, start_gateway):
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY,
                             "models": {"gpt": {"deployments": [deployment(https_mock, id="tls-bad")]}}})
    with pytest.raises(openai.APIStatusError) as info:
        client_for(gateway).chat.completions.create(model="gpt", messages=MESSAGES)
    error = info.value.body
    assert info.value.status_code == 502 and error["code"] == "upstream_connect_error"
    assert "TLS certificate verification failed: unable to get local issuer certificate" in error["message"]
    assert "Traceback" not in str(error)
    _, detail = get_json(gateway.url, "/admin/deployments")
    health = {d["id"]: d for d in detail["deployments"]}["tls-bad"]
    assert health["failures"] == 1 and "TLS certificate verification failed" in health["last_error"]
    assert https_mock.count("/v1/chat/completions") == 0


def test_a_deployment_tls_replaces_the_top_level_one(certs, https_mock, start_gateway):
    gateway = start_gateway({"reliability": NO_RETRY, "models": {
        "own-ca": {"deployments": [deployment(https_mock, tls={"ca_file": certs.ca_file})]},
        "top-level": {"deployments": [deployment(https_mock)]}}})
    client = client_for(gateway)
    assert client.chat.completions.create(model="own-ca", messages=MESSAGES).choices[0].message.content
    with pytest.raises(openai.APIStatusError, match="TLS certificate verification failed"):
        client.chat.completions.create(model="top-level", messages=MESSAGES)


def test_health_probes_go_the_deployments_own_way(certs, https_mock, start_gateway):
    gateway = start_gateway({
        "auth": {"master_key": "sk-m"},
        "reliability": {"health_checks": {"interval": 0.05, "timeout": 2, "probe": "models"}},
        "models": {"gpt": {"deployments": [deployment(https_mock, id="probed", tls={"ca_file": certs.ca_file})]}}})
    done = threading.Event()
    for _ in range(200):  # a background task in another thread: poll, bounded
        _, detail = get_json(gateway.url, "/admin/deployments")
        probe = detail["deployments"][0].get("probe")
        if probe is not None:
            break
        done.wait(0.05)
    assert probe == {"ok": True, "detail": "GET /models -> 200", "healthy": True}


def test_https_proxy_is_read_once_at_start_and_no_proxy_bypasses_it(certs, start_mock, start_gateway, monkeypatch):
    far, near = start_mock(ssl=certs.server_context()), start_mock(ssl=certs.server_context("localhost"))
    with ConnectProxyThread() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", "localhost")
        near_deployment = {**deployment(near), "base_url": f"https://localhost:{near.mock.port}/v1"}
        gateway = start_gateway({"tls": {"ca_file": certs.ca_file}, "models": {
            "far": {"deployments": [deployment(far)]}, "near": {"deployments": [near_deployment]}}})
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # too late: read at start
        client = client_for(gateway)
        for _ in range(3):
            assert client.chat.completions.create(model="far", messages=MESSAGES).choices[0].message.content
            assert client.chat.completions.create(model="near", messages=MESSAGES).choices[0].message.content
        assert proxy.tunnels == 1 and far.count("/v1/chat/completions") == 3
        assert near.count("/v1/chat/completions") == 3  # direct: no tunnel for it


def test_a_deployment_proxy_with_credentials(certs, https_mock, start_gateway):
    with ConnectProxyThread(credentials=("gw", SECRET)) as proxy:
        gateway = start_gateway({"tls": {"ca_file": certs.ca_file}, "models": {"gpt": {"deployments": [
            deployment(https_mock, proxy=proxy.url("gw", SECRET))]}}})
        assert client_for(gateway).chat.completions.create(model="gpt", messages=MESSAGES).choices[0].message.content
        assert proxy.tunnels == 1


def test_a_proxy_refusal_is_a_clear_502_that_never_shows_the_password(certs, https_mock, start_gateway, caplog):
    with ConnectProxyThread(credentials=("gw", "the-right-one")) as proxy, caplog.at_level(logging.DEBUG):
        gateway = start_gateway({"auth": {"master_key": "sk-m"}, "tls": {"ca_file": certs.ca_file},
                                 "reliability": NO_RETRY, "logging": {"level": "debug"},
                                 "models": {"gpt": {"deployments": [
                                     deployment(https_mock, id="proxied", proxy=proxy.url("gw", SECRET))]}}})
        with pytest.raises(openai.APIStatusError) as info:
            client_for(gateway).chat.completions.create(model="gpt", messages=MESSAGES)
        _, detail = get_json(gateway.url, "/admin/deployments")
        port = proxy.port
    error = info.value.body
    assert info.value.status_code == 502 and error["code"] == "upstream_connect_error"
    assert f"proxy http://127.0.0.1:{port} refused the tunnel" in error["message"]
    assert "407 Proxy Authentication Required (it refused the credentials)" in error["message"]
    assert proxy.refusals and proxy.tunnels == 0
    lines = "\n".join(LineFormatter("kv").format(record) for record in caplog.records)
    assert "upstream_connect_error" in lines  # the gateway's own records, every field written out
    for text in (str(error), str(detail), lines, repr(gateway.config)):
        assert SECRET not in text


def test_http2_deployments_multiplex_on_one_connection(certs, start_mock, start_gateway):
    mock = start_mock(ssl=certs.server_context(), http2=True)
    gateway = start_gateway({"tls": {"ca_file": certs.ca_file},
                             "models": {"gpt": {"deployments": [deployment(mock, http2=True)]}}})
    client = client_for(gateway)
    answers: list[str] = []

    def ask(i: int) -> None:
        answers.append(client.chat.completions.create(model="gpt", messages=[
            {"role": "user", "content": f"h2 {i}"}]).choices[0].message.content)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hello egress"
    assert sorted(answers) == sorted(f"h2 {i}" for i in range(16))
    assert mock.mock.connections == 1


def test_a_bad_proxy_variable_stops_startup_naming_it(monkeypatch):
    from switchyard.core.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        Upstreams.from_config(parse_config({}), {"HTTP_PROXY": f"socks5://gw:{SECRET}@proxy:1080"})
    assert info.value.problems == [("HTTP_PROXY", "must be http://[user:password@]host:port")]
    assert SECRET not in str(info.value)
