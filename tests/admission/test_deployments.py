"""The deployment gate: configured rpm, learning from the provider's headers, falling back when full.

Two mock upstreams serve one alias; the ``weighted`` strategy with weights 1
and 0 always tries the first one first, so every request the second one sees
is a fallback.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from switchyard.admission.deployments import DeploymentGate
from switchyard.admission.estimate import Estimator
from switchyard.core.errors import DeploymentSaturated
from switchyard.storage.limits.gcra import MemoryBackend


def _config(first: Any, second: Any | None, limits: dict[str, Any] | None = None, **first_extra: Any) -> dict[str, Any]:
    deployments = [{"provider": "openai", "model": "gpt-4o-mini", "base_url": first.base_url,
                    "api_key": "sk-upstream", "weight": 1, **first_extra}]
    if second is not None:
        deployments.append({"provider": "openai", "model": "gpt-4o-mini", "base_url": second.base_url,
                            "api_key": "sk-upstream", "weight": 0})
    config: dict[str, Any] = {"models": {"m": {"strategy": "weighted", "deployments": deployments}}}
    if limits is not None:
        config["limits"] = limits
    return config


async def _send(url: str, n: int, stream: bool = False) -> list[tuple[int, dict[str, str], str]]:
    out = []
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.post(url + "/v1/chat/completions", json=body) as r:
                out.append((r.status, {k.lower(): v for k, v in r.headers.items()}, await r.text()))
    return out


def test_rpm_5_sends_no_sixth_request_and_the_sixth_falls_back(start_mock, start_gateway) -> None:
    first, second = start_mock(), start_mock()
    gateway = start_gateway(_config(first, second, rpm=5))
    results = asyncio.run(_send(gateway.url, 8))
    assert [status for status, _, _ in results] == [200] * 8
    assert first.count("/v1/chat/completions") == 5  # within the window: no sixth
    assert second.count("/v1/chat/completions") == 3
    deployments = [headers["x-switchyard-deployment"] for _, headers, _ in results]
    assert len(set(deployments[:5])) == 1 and deployments[5] != deployments[0]


def test_every_deployment_full_answers_429_with_retry_after(start_mock, start_gateway) -> None:
    first = start_mock()
    gateway = start_gateway(_config(first, None, rpm=2))
    results = asyncio.run(_send(gateway.url, 3))
    assert [status for status, _, _ in results] == [200, 200, 429]
    _, headers, body = results[2]
    assert "deployment_at_capacity" in body
    # Sliding window: room returns when the first of the two leaves the window, a minute after it
    # (rounded up to its 60 ms slot and to whole seconds).
    assert 55 <= int(headers["retry-after"]) <= 61
    assert first.count("/v1/chat/completions") == 2


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_learned_headers_pause_a_deployment_before_the_provider_refuses(stream, start_mock, start_gateway) -> None:
    first, second = start_mock(), start_mock()
    # The provider allows 5 a minute and says so in x-ratelimit-*-requests; the gateway has no rpm of its own.
    first.set_faults(rpm=5)
    gateway = start_gateway(_config(first, second, {}))
    results = asyncio.run(_send(gateway.url, 8, stream))
    assert [status for status, _, _ in results] == [200] * 8
    # remaining 4, 3, 2, 1: at 1 (the margin) the gate pauses the deployment; the provider never refused.
    assert first.count("/v1/chat/completions") == 4
    assert second.count("/v1/chat/completions") == 4


def test_without_learning_the_provider_refuses(start_mock, start_gateway) -> None:
    first, second = start_mock(), start_mock()
    first.set_faults(rpm=5)
    gateway = start_gateway(_config(first, second, {"learn_from_headers": False}))
    results = asyncio.run(_send(gateway.url, 8))
    assert [status for status, _, _ in results] == [200] * 8
    assert first.count("/v1/chat/completions") == 8  # five answered, three refused (429) and fell back
    assert second.count("/v1/chat/completions") == 3


def test_learn_pauses_until_the_margin_refills() -> None:
    now = [100.0]
    gate = DeploymentGate("d", [], MemoryBackend(), Estimator(None, "rough"), clock=lambda: now[0])  # type: ignore[arg-type]
    gate.learn({"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "50",
                "x-ratelimit-reset-requests": "30s"})
    assert gate.status()["paused_for"] == 0.0
    # 2 left of 100 (the margin), whole again in 49 s: one unit back every 0.5 s.
    gate.learn({"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "2",
                "x-ratelimit-reset-requests": "49s"})
    assert gate.status()["paused_for"] == pytest.approx(0.5)
    with pytest.raises(DeploymentSaturated) as refused:
        asyncio.run(gate.enter(None))
    assert "the provider reports 2 requests left" in refused.value.message
    now[0] += 0.6
    assert asyncio.run(gate.enter(None)) == (0, None)


def test_stream_rate_limit_headers_come_with_the_first_bytes(mock_upstream, start_gateway) -> None:
    config = {"auth": {"keys": [{"key": "sk-a", "name": "a"}]},
              "models": {"m": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                "base_url": mock_upstream.base_url, "api_key": "sk-upstream"}]}},
              "limits": {"rules": [{"scope": "key", "rpm": 10, "tpm": 100000}]}}
    gateway = start_gateway(config)
    mock_upstream.set_faults(chunk_delay_ms=100)

    async def run() -> tuple[dict[str, str], float, float]:
        body = {"model": "m", "messages": [{"role": "user", "content": "one two three four five"}], "stream": True}
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.post(gateway.url + "/v1/chat/completions", json=body,
                                    headers={"authorization": "Bearer sk-a"}) as r:
                at_headers = time.monotonic() - started
                await r.read()
                return dict(r.headers), at_headers, time.monotonic() - started

    headers, at_headers, total = asyncio.run(run())
    assert headers["x-ratelimit-limit-requests"] == "10"
    assert headers["x-ratelimit-remaining-requests"] == "9"
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 100000
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert at_headers < total - 0.5  # the headers arrived before the paced stream did


def test_anthropic_rate_limit_headers_pause_too() -> None:
    """Anthropic's own headers (RFC 3339 resets, separate input/output token buckets) are read."""
    import datetime

    now = [1000.0]
    gate = DeploymentGate("d", [], MemoryBackend(), Estimator(None, "rough"), clock=lambda: now[0])  # type: ignore[arg-type]
    reset = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    gate.learn({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "40",
                "anthropic-ratelimit-requests-reset": reset})
    assert gate.paused_until == 0.0  # plenty left
    gate.learn({"anthropic-ratelimit-output-tokens-limit": "8000",
                "anthropic-ratelimit-output-tokens-remaining": "0",
                "anthropic-ratelimit-output-tokens-reset": reset})
    assert 1000.5 < gate.paused_until <= 1030.5 and "output-tokens" in gate.pause_reason
    with pytest.raises(DeploymentSaturated):
        asyncio.run(gate.enter(None))
