"""Across replicas, on a real Redis: shared entries, one upstream call for identical requests at
different gateway processes, and a follower whose leader went away — taking over, or ending cleanly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from typing import Any

import openai
import pytest
import redis.asyncio as aioredis

import switchyard
from switchyard.auth import Caller
from switchyard.cache.entry import Piece
from switchyard.cache.key import request_key
from switchyard.cache.partition import partition_of
from switchyard.cache.relay import Relay
from switchyard.cache.store_redis import RedisStore
from switchyard.core.call import Call, Kind
from switchyard.core.errors import RelayLost
from switchyard.core.messages import validate_chat
from switchyard.mock import MockUpstreamThread
from tests.cache.test_cache_e2e import upstream_calls

MASTER = "sk-master-replicas"


def _config(mock: MockUpstreamThread, redis_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"auth": {"master_key": MASTER}, "redis": {"url": redis_url, "prefix": prefix},
            "cache": {"backend": "redis", "lock_ttl": 1.0},
            "reliability": {"retry": {"attempts": 1}},
            "models": {"chat": {"cache": {}, "deployments": [{
                "provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": "sk-up",
                "headers": {"x-mock-chunk-delay-ms": "80", "x-mock-latency-ms": "300"}}]}}, **extra}


def test_two_gateway_processes_share_entries_and_coalesce_one_request(start_mock, start_gateway_process,
                                                                      redis_url, redis_prefix):
    mock = start_mock(stream_chunks=8)
    config = _config(mock, redis_url, redis_prefix)
    first, second = start_gateway_process(config), start_gateway_process(config)
    sdks = [openai.OpenAI(base_url=g.url + "/v1", api_key=MASTER, max_retries=0, timeout=30) for g in (first, second)]
    prompt = f"across replicas {uuid.uuid4().hex[:8]}"
    messages = [{"role": "user", "content": prompt}]

    leader = sdks[0].chat.completions.with_raw_response.create(model="chat", messages=messages, stream=True,
                                                               temperature=0)
    chunks = iter(leader.parse())
    head = next(chunks)  # replica A is streaming it now
    follower = sdks[1].chat.completions.with_raw_response.create(model="chat", messages=messages, stream=True,
                                                                 temperature=0)
    assert follower.headers["x-switchyard-coalesced"] == "true"
    followed = "".join(c.choices[0].delta.content or "" for c in follower.parse() if c.choices)
    led = (head.choices[0].delta.content or "") + "".join(c.choices[0].delta.content or "" for c in chunks
                                                           if c.choices)
    assert led == followed == prompt
    assert upstream_calls(mock, prompt) == 1

    # unary, at both at once: one call; then an entry kept by one is a hit at the other
    unary = f"unary across replicas {uuid.uuid4().hex[:8]}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda sdk: sdk.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": unary}], temperature=0), sdks))
    assert sorted(a.headers.get("x-switchyard-coalesced", "no") for a in answers) == ["no", "true"]
    assert {a.parse().choices[0].message.content for a in answers} == {unary}
    assert upstream_calls(mock, unary) == 1
    for sdk in sdks:
        hit = sdk.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": unary}],
                                                            temperature=0)
        assert hit.headers["x-switchyard-cache"] == "hit"
    assert upstream_calls(mock, unary) == 1


def _planted(prompt: str, prefix: str, redis_url: str) -> tuple[Relay, str, str]:
    """The lock and relay keys a gateway would use for ``prompt`` from the master key."""
    request = validate_chat({"model": "chat", "messages": [{"role": "user", "content": prompt}], "stream": True,
                             "temperature": 0})
    call = Call("r", request=request, kind=Kind.CHAT)
    call.group = type("Group", (), {"alias": "chat"})()
    relay = Relay(RedisStore(aioredis.Redis.from_url(redis_url), prefix, 1 << 20, 1 << 20), 1.0, 0.05)
    partition = partition_of(Caller(name="master", is_master=True), "tenant")
    return relay, relay.lock_key(relay.store.name(partition, request_key(call))), "dead" + uuid.uuid4().hex[:8]


def test_a_follower_whose_leader_died_before_sending_takes_the_call_over(start_mock, redis_url, redis_prefix):
    mock = start_mock(stream_chunks=4)
    prompt = f"orphaned {uuid.uuid4().hex[:8]}"

    async def run() -> str:
        relay, lock, token = _planted(prompt, redis_prefix, redis_url)
        await relay.client.set(lock, token, px=400)  # a leader that claimed the call, then died
        async with switchyard.AsyncClient(_config(mock, redis_url, redis_prefix), api_key=MASTER) as client:
            text = "".join([c.text async for c in client.stream(
                model="chat", messages=[{"role": "user", "content": prompt}], temperature=0)])
        await relay.client.aclose()
        return text

    assert asyncio.run(asyncio.wait_for(run(), 20)) == prompt
    assert upstream_calls(mock, prompt) == 1


def test_a_follower_whose_leader_died_mid_stream_ends_with_relay_lost(start_mock, redis_url, redis_prefix):
    mock = start_mock(stream_chunks=4)
    prompt = f"half relayed {uuid.uuid4().hex[:8]}"

    async def run() -> tuple[list[str], BaseException | None]:
        relay, lock, token = _planted(prompt, redis_prefix, redis_url)
        await relay.client.set(lock, token, px=400)
        piece = Piece(b'{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"half "}}]}')
        await relay.client.xadd(relay.relay_key(token), {"p": relay_encode([piece]), "k": 0.0}, id="0-1")
        got: list[str] = []
        error: BaseException | None = None
        async with switchyard.AsyncClient(_config(mock, redis_url, redis_prefix), api_key=MASTER) as client:
            try:
                async for chunk in client.stream(model="chat", messages=[{"role": "user", "content": prompt}],
                                                 temperature=0):
                    got.append(chunk.text)
            except RelayLost as exc:
                error = exc
        await relay.client.aclose()
        return got, error

    got, error = asyncio.run(asyncio.wait_for(run(), 20))
    assert got == ["half "]
    assert isinstance(error, RelayLost) and error.code == "relay_lost"
    assert upstream_calls(mock, prompt) == 0


def relay_encode(pieces: list[Piece]) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(pieces)


@pytest.fixture(autouse=True)
def _clean_prefix(redis_url: str, redis_prefix: str) -> Any:
    yield
    async def clean() -> None:
        client = aioredis.Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    asyncio.run(clean())
