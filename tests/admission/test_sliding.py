"""The sliding window with an injected clock: exactly N in any window, reservations corrected in
place, and when room comes back. The same cases run on the Redis scripts (its own clock is real,
so those cases are the ones that need no time to pass)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from switchyard.storage.limits.gcra import Bucket
from switchyard.storage.limits.sliding import SlidingMemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rpm(limit: int, key: str = "k") -> Bucket:
    return Bucket(f"{key}:rpm", "key", key, "rpm", limit, 60.0)


def tpm(limit: int, key: str = "k") -> Bucket:
    return Bucket(f"{key}:tpm", "key", key, "tpm", limit, 60.0)


def tpd(limit: int, key: str = "k") -> Bucket:
    return Bucket(f"{key}:tpd", "key", key, "tpd", limit, 86400.0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_exactly_n_in_any_window_even_under_steady_load(clock: Clock) -> None:
    """Load every 50 ms for three minutes: every rolling minute holds exactly 100 (GCRA: ~199)."""
    backend = SlidingMemoryBackend(clock)
    bucket = rpm(100)
    admitted: list[float] = []
    for _ in range(3 * 60 * 20):
        for _ in range(3):
            if backend.acquire_now([bucket], [1]).allowed:
                admitted.append(clock.now)
        clock.now += 0.05
    assert len(admitted) == 300  # 100 per minute, no more
    assert admitted[99] < 1002.0  # the limit is available at once...
    for i in range(len(admitted) - 100):  # ...but never a 101st within 60 s of the first
        assert admitted[i + 100] - admitted[i] >= 60.0, i


def test_no_burst_after_idle_at_a_window_edge(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = rpm(100)
    clock.now = 1059.9
    assert sum(backend.acquire_now([bucket], [1]).allowed for _ in range(200)) == 100
    clock.now = 1060.1
    assert sum(backend.acquire_now([bucket], [1]).allowed for _ in range(200)) == 0
    clock.now = 1119.8  # still within 60 s of the first hundred
    assert not backend.acquire_now([bucket], [1]).allowed
    clock.now = 1120.0  # they have left (one 60 ms slot late at most)
    assert sum(backend.acquire_now([bucket], [1]).allowed for _ in range(200)) == 100


def test_when_there_is_room_is_when_the_oldest_entry_leaves(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = rpm(3)
    for _ in range(3):
        assert backend.acquire_now([bucket], [1]).allowed
        clock.now += 10.0
    refused = backend.acquire_now([bucket], [1])
    assert not refused.allowed and refused.refused == 0
    # The first entry (t=1000) leaves at t=1060: 30 s from now, rounded up to its slot (60 ms).
    assert 30.0 <= refused.retry_after <= 30.06
    assert refused.remaining(bucket, 0) == 0
    clock.now += refused.retry_after
    assert backend.acquire_now([bucket], [1]).allowed


def test_a_large_cost_waits_for_as_many_entries_as_it_needs(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = tpm(1000)
    for _ in range(4):
        assert backend.acquire_now([bucket], [250]).allowed
        clock.now += 5.0
    refused = backend.acquire_now([bucket], [600])  # needs three of the four entries gone
    assert not refused.allowed
    assert 50.0 <= refused.retry_after <= 50.06  # the third entry (t=1010) leaves at 1070; now 1020


def test_remaining_and_reset_headers_are_truthful(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = tpm(1000)
    first = backend.acquire_now([bucket], [250])
    assert first.remaining(bucket, 0) == 750
    assert 60.0 <= first.fills[0] <= 60.06  # empty again when this entry leaves
    clock.now += 20.0
    second = backend.acquire_now([bucket], [100])
    assert second.remaining(bucket, 0) == 650
    assert 60.0 <= second.fills[0] <= 60.06  # the newest entry decides the reset


async def test_a_refund_frees_room_at_once(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = tpm(1000)
    reserved = backend.acquire_now([bucket], [900])
    assert reserved.allowed
    assert not backend.acquire_now([bucket], [200]).allowed
    clock.now += 1.0
    await backend.adjust([bucket], [-800], reserved.ref)  # the call used 100 of its 900
    decision = backend.acquire_now([bucket], [850])
    assert decision.allowed and decision.remaining(bucket, 0) == 50
    await backend.adjust([bucket], [-5000], reserved.ref)  # a refund never goes below zero
    assert backend.acquire_now([bucket], [150]).allowed
    assert not backend.acquire_now([bucket], [1]).allowed


async def test_a_larger_actual_usage_consumes_room(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = tpm(1000)
    reserved = backend.acquire_now([bucket], [100])
    await backend.adjust([bucket], [+850], reserved.ref)
    assert not backend.acquire_now([bucket], [51]).allowed
    decision = backend.acquire_now([bucket], [50])
    assert decision.allowed and decision.remaining(bucket, 0) == 0
    clock.now += 60.1  # the corrected entry leaves with its reservation, not later
    assert backend.acquire_now([bucket], [1000]).allowed


async def test_an_extra_after_the_entry_left_counts_now(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    bucket = tpm(1000)
    reserved = backend.acquire_now([bucket], [100])
    clock.now += 90.0  # a stream longer than the window
    await backend.adjust([bucket], [-50], reserved.ref)  # nothing left to refund
    await backend.adjust([bucket], [+400], reserved.ref)
    assert backend.acquire_now([bucket], [600]).allowed
    assert not backend.acquire_now([bucket], [1]).allowed


def test_all_or_nothing_across_buckets(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock)
    a, b = rpm(10, "a"), tpm(100, "a")
    assert backend.acquire_now([a, b], [1, 80]).allowed
    refused = backend.acquire_now([a, b], [1, 80])
    assert not refused.allowed and refused.refused == 1
    assert refused.remaining(a, 0) == 9 and refused.remaining(b, 1) == 20  # the headers of a 429: as it is
    assert backend.acquire_now([a], [1]).remaining(a, 0) == 8  # the refused attempt charged nothing


def test_cost_above_the_limit_is_never_admitted(clock: Clock) -> None:
    decision = SlidingMemoryBackend(clock).acquire_now([tpm(100)], [101])
    assert not decision.allowed and decision.retry_after == float("inf")


def test_a_day_window_stays_bounded_and_exact(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock, slots=100)
    bucket = tpd(10_000)
    admitted = 0
    for _ in range(20_000):  # one token every 10 s for over two days
        admitted += backend.acquire_now([bucket], [1]).allowed
        clock.now += 10.0
    window = backend._windows[bucket.key]
    assert len(window.entries) <= 101  # bounded by the slots, whatever the traffic
    assert window.total <= 10_000
    assert admitted == 20_000  # 8640 a day: under the limit, nothing refused


def test_empty_windows_are_swept(clock: Clock) -> None:
    backend = SlidingMemoryBackend(clock, max_keys=10)
    for i in range(10):
        backend.acquire_now([rpm(5, f"k{i}")], [1])
    clock.now += 61
    backend.acquire_now([rpm(5, "new")], [1])
    assert backend.status()["buckets"] == 1


# -- the same contract on the Redis scripts --------------------------------------------------

@pytest.fixture
def on_redis(redis_url, redis_prefix):
    """Run ``body(backend)`` against a fresh SlidingRedisBackend, in its own event loop."""
    import redis.asyncio as aioredis

    from switchyard.storage.limits.sliding_redis import SlidingRedisBackend

    def run(body):
        async def main():
            client = aioredis.Redis.from_url(redis_url)
            try:
                return await body(SlidingRedisBackend(client, redis_prefix + uuid.uuid4().hex[:6] + ":"))
            finally:
                await client.aclose()
        return asyncio.run(main())
    return run


def test_redis_admits_exactly_the_limit_and_says_when(on_redis) -> None:
    bucket = rpm(100)

    async def body(backend):
        return [await backend.acquire([bucket], [1]) for _ in range(120)]

    decisions = on_redis(body)
    assert sum(d.allowed for d in decisions) == 100
    assert decisions[99].remaining(bucket, 0) == 0 and decisions[0].remaining(bucket, 0) == 99
    refused = decisions[100]
    assert not refused.allowed
    assert 58.0 <= refused.retry_after <= 60.1  # when the first of them leaves
    assert 59.0 <= decisions[99].fills[0] <= 60.1


def test_redis_refund_and_settle_up(on_redis) -> None:
    bucket, requests = tpm(1000), rpm(10)

    async def body(backend):
        reserved = await backend.acquire([requests, bucket], [1, 900])
        blocked = await backend.acquire([requests, bucket], [1, 200])
        await backend.adjust([bucket], [-800], reserved.ref)
        after_refund = await backend.acquire([requests, bucket], [1, 850])
        await backend.adjust([bucket], [+50], after_refund.ref)
        full = await backend.acquire([requests, bucket], [1, 1])
        return reserved, blocked, after_refund, full

    reserved, blocked, after_refund, full = on_redis(body)
    assert reserved.allowed and not blocked.allowed and blocked.refused == 1
    assert blocked.remaining(requests, 0) == 9 and blocked.remaining(bucket, 1) == 100
    assert after_refund.allowed and after_refund.remaining(bucket, 1) == 50
    assert after_refund.remaining(rpm(10), 0) == 8  # the refused attempt charged no request
    assert not full.allowed and full.refused == 1


@pytest.mark.parametrize(("algorithm", "expected"), [(None, "sliding_window"), ("sliding_window", "sliding_window"),
                                                     ("gcra", "gcra")])
def test_the_algorithm_is_chosen_by_config(algorithm, expected) -> None:
    from switchyard.admission import AdmissionControl
    from switchyard.core.config import parse_config

    limits: dict = {"rules": [{"scope": "global", "rpm": 10}]}
    if algorithm is not None:
        limits["algorithm"] = algorithm
    config = parse_config({"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}},
                           "limits": limits})
    control = AdmissionControl.build(config, None, None)
    assert control.backend.algorithm == expected
    assert control.status()["algorithm"] == expected


def test_an_unknown_algorithm_is_named_in_the_error() -> None:
    from switchyard.core.config import parse_config

    with pytest.raises(Exception) as error:
        parse_config({"limits": {"algorithm": "fixed_window", "rules": [{"scope": "global", "rpm": 1}]}})
    assert "algorithm" in str(error.value)
