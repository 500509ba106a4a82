"""Config of the way to upstreams: ``tls`` (top level and per deployment), a
deployment's ``proxy`` (a secret) and ``http2``; problems named by path, never echoed."""

from __future__ import annotations

import pytest

from switchyard.core.config import ConfigError, parse_config

SECRET = "pw-SECRET-1080"


def with_deployment(**extra) -> dict:
    return {"models": {"gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o", **extra}]}}}


def test_defaults_verify_with_the_system_roots_over_http1():
    config = parse_config(with_deployment())
    deployment = config.models["gpt"].deployments[0]
    assert (config.tls.ca_file, config.tls.verify) == (None, True)
    assert (deployment.tls, deployment.proxy, deployment.http2) == (None, None, False)


def test_tls_proxy_and_http2_are_read(certs):
    ca = certs.ca_file
    config = parse_config({"tls": {"ca_file": str(ca)}, **with_deployment(
        tls={"ca_file": str(ca), "verify": False}, proxy=f"http://gw:{SECRET}@proxy:3128", http2=True)})
    deployment = config.models["gpt"].deployments[0]
    assert config.tls.ca_file == ca and deployment.tls.verify is False and deployment.http2 is True
    assert deployment.proxy.get_secret_value() == f"http://gw:{SECRET}@proxy:3128"
    assert SECRET not in repr(config) and SECRET not in str(deployment)


def test_problems_are_named_by_path_and_a_proxy_url_never_echoed(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    with pytest.raises(ConfigError) as info:
        parse_config({"tls": {"ca_file": "/nonexistent/ca.pem", "verfy": True}, "models": {"gpt": {"deployments": [
            {"provider": "openai", "model": "a", "proxy": f"https://gw:{SECRET}@proxy:3128", "tls": {"ca_file": str(junk)}},
            {"provider": "openai", "model": "b", "proxy": f"http://gw:{SECRET}@proxy:port"},
            {"provider": "openai", "model": "c", "proxy": f"socks5://gw:{SECRET}@proxy:1080"},
            {"provider": "openai", "model": "d", "http2": "sometimes"},
        ]}}})
    problems = dict(info.value.problems)
    assert problems["tls.ca_file"] == "/nonexistent/ca.pem: No such file or directory"
    assert problems["models.gpt.deployments[0].tls.ca_file"] == f"{junk}: no PEM certificate in it"
    assert problems["tls.verfy"] == "unknown key"
    assert problems["models.gpt.deployments[0].proxy"].startswith("an https:// proxy is not supported")
    assert problems["models.gpt.deployments[1].proxy"] == "not a valid URL"
    assert problems["models.gpt.deployments[2].proxy"] == "must be http://[user:password@]host:port"
    assert "models.gpt.deployments[3].http2" in problems
    assert SECRET not in str(info.value)
