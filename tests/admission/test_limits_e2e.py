"""Limits end to end with real Redis, real gateway processes and the mock upstream."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from typing import Any

import aiohttp
import pytest

KEY = "sk-tenant-a"


def _config(mock: Any, limits: dict[str, Any], redis_url: str | None = None, prefix: str = "") -> dict[str, Any]:
    config: dict[str, Any] = {
        "auth": {"keys": [
            {"key": KEY, "name": "a", "tenant": "acme"},
            {"key": "sk-tenant-b", "name": "b", "tenant": "globex"},
            {"key": "sk-gold", "name": "gold", "tenant": "gold-co", "tier": "gold"},
        ]},
        "models": {"m": {"deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-upstream"}]}},
        "limits": limits,
    }
    if redis_url is not None:
        # Exactness is the point here, not latency: a busy machine must not turn a slow Redis
        # answer into a fail-open admission (that behaviour has tests of its own).
        config["redis"] = {"url": redis_url, "prefix": prefix, "operation_timeout": 5.0}
    return config


def _body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


async def _post(session: aiohttp.ClientSession, url: str, key: str = KEY, **extra: Any) -> tuple[int, dict[str, str], Any]:
    async with session.post(url + "/v1/chat/completions", json=_body(**extra),
                            headers={"authorization": f"Bearer {key}"}) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


def _three_gateways(start_gateway_process, mock: Any, redis_url: str, prefix: str) -> list[Any]:
    limits = {"backend": "redis", "rules": [{"scope": "tenant", "rpm": 100}], "queue": {"max_wait": 0},
              "on_backend_error": "closed"}
    return [start_gateway_process(_config(mock, limits, redis_url, prefix)) for _ in range(3)]


def test_three_processes_share_one_limit(mock_upstream, start_gateway_process, redis_url, redis_prefix) -> None:
    """The issue's contract: three replicas, one 100-requests-per-minute limit, concurrent load."""
    gateways = _three_gateways(start_gateway_process, mock_upstream, redis_url, redis_prefix)

    async def run() -> list[int]:
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(_post(session, gateways[i % 3].url) for i in range(240)))
            return [status for status, _, _ in results]

    statuses = asyncio.run(asyncio.wait_for(run(), 60))
    admitted = statuses.count(200)
    assert set(statuses) <= {200, 429}, sorted(statuses)
    assert abs(admitted - 100) <= 2, admitted
    assert admitted <= 100  # the sliding window never lets a 101st into the minute
    assert statuses.count(429) == 240 - admitted
    assert mock_upstream.count("/v1/chat/completions") == admitted


def test_no_refill_sneaks_through_under_sustained_load(mock_upstream, start_gateway_process, redis_url,
                                                       redis_prefix) -> None:
    """Load kept on for seconds: GCRA would admit one more every 0.6 s; the sliding window
    admits nothing more until the first hundred leave the window, a minute later."""
    gateways = _three_gateways(start_gateway_process, mock_upstream, redis_url, redis_prefix)

    async def run() -> tuple[list[int], list[int], float]:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            first = await asyncio.gather(*(_post(session, gateways[i % 3].url) for i in range(150)))
            later: list[int] = []
            for _ in range(100):  # bounded in count and in time
                if time.monotonic() - started > 4.0:
                    break
                wave = await asyncio.gather(*(_post(session, gateways[i % 3].url) for i in range(12)))
                later.extend(status for status, _, _ in wave)
                await asyncio.sleep(0.05)
            return [status for status, _, _ in first], later, time.monotonic() - started

    first, later, elapsed = asyncio.run(asyncio.wait_for(run(), 60))
    assert elapsed >= 3.0 and len(later) >= 60, (elapsed, len(later))  # GCRA would have refilled >= 5
    assert abs(first.count(200) - 100) <= 2 and first.count(200) <= 100, first.count(200)
    assert later.count(200) == 0, later.count(200)
    assert set(later) == {429}
    assert mock_upstream.count("/v1/chat/completions") == first.count(200)


def test_reservations_settle_to_reported_usage(mock_upstream, start_gateway, redis_url, redis_prefix) -> None:
    limits = {"backend": "redis", "default_max_tokens": 500, "rules": [{"scope": "key", "tpm": 10000}]}
    gateway = start_gateway(_config(mock_upstream, limits, redis_url, redis_prefix))

    async def run() -> list[tuple[int, dict[str, str], Any]]:
        async with aiohttp.ClientSession() as session:
            out = []
            for _ in range(3):
                out.append(await _post(session, gateway.url, text="count these words please"))
            return out

    results = asyncio.run(run())
    assert all(status == 200 for status, _, _ in results)
    used = [body["usage"]["total_tokens"] for _, _, body in results]
    # Each answer's headers show the previous reservations settled to real usage (not 500+ each).
    remaining = [int(h["x-ratelimit-remaining-tokens"]) for _, h, _ in results]
    assert remaining[0] >= 10000 - 500 - 50
    spent_before_third = 10000 - remaining[2]
    # The third reservation (prompt + 500) plus the two settled calls; refills only add room.
    assert spent_before_third <= used[0] + used[1] + 500 + 50
    assert spent_before_third >= 500


def test_token_limit_ends_a_stream_with_an_error_event(mock_upstream, start_gateway) -> None:
    # Reserved: prompt 32 (rough count of 100 characters) + 5; 13 left under the hard limit.
    # The mock echoes the prompt: 25 tokens of output, past 5 + 13.
    limits = {"default_max_tokens": 5, "estimator": "rough", "rules": [{"scope": "key", "tpm": 50}]}
    gateway = start_gateway(_config(mock_upstream, limits))
    text = "abcd" * 25

    async def run() -> tuple[int, str]:
        async with aiohttp.ClientSession() as session:
            async with session.post(gateway.url + "/v1/chat/completions", json=_body(text, stream=True),
                                    headers={"authorization": f"Bearer {KEY}"}) as r:
                return r.status, await r.text()

    status, text = asyncio.run(run())
    assert status == 200
    assert "token_limit_reached" in text


def test_too_large_request_names_the_limit(mock_upstream, start_gateway) -> None:
    limits = {"rules": [{"scope": "tenant", "match": "acme", "tpm": 100}]}
    gateway = start_gateway(_config(mock_upstream, limits))

    async def run() -> tuple[int, dict[str, str], Any]:
        async with aiohttp.ClientSession() as session:
            return await _post(session, gateway.url, max_tokens=1000)

    status, headers, body = asyncio.run(run())
    assert status == 429
    assert "tenant 'acme' tpm limit of 100" in body["error"]["message"]
    assert headers["x-switchyard-limit"] == "tenant=acme tpm"
    assert headers["x-ratelimit-limit-tokens"] == "100"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis():
    """A redis-server of our own, so the test can stop it."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_redis_outage_follows_the_policy(policy, private_redis, mock_upstream, start_gateway) -> None:
    proc, url = private_redis
    limits = {"backend": "redis", "on_backend_error": policy, "retry_backend_after": 30,
              "rules": [{"scope": "key", "rpm": 1000}]}
    gateway = start_gateway(_config(mock_upstream, limits, url, "t:"))

    async def run() -> tuple[int, int, Any]:
        async with aiohttp.ClientSession() as session:
            before, headers, _ = await _post(session, gateway.url)
            assert "x-ratelimit-remaining-requests" in headers
            proc.kill()
            proc.wait()
            after, _, body = await _post(session, gateway.url)
            async with session.get(gateway.url + "/health/ready", headers={"authorization": f"Bearer {KEY}"}) as r:
                health = await r.json()
            return before, after, (body, health)

    before, after, (body, health) = asyncio.run(run())
    assert before == 200
    assert health["admission"]["state"] == "unreachable"
    assert health["admission"]["failing"] == policy
    if policy == "open":
        assert after == 200
        assert health["status"] == "ok"
    else:
        assert after == 503
        assert body["error"]["code"] == "limits_backend_unreachable"
        assert health["status"] == "degraded"
