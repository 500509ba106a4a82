"""GCRA arithmetic with an injected clock: bursts, steady rate, reservations and refunds."""

from __future__ import annotations

import pytest

from switchyard.storage.limits.gcra import Bucket, MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rpm(limit: int, key: str = "k") -> Bucket:
    return Bucket(f"{key}:rpm", "key", key, "rpm", limit, 60.0)


def tpm(limit: int, key: str = "k") -> Bucket:
    return Bucket(f"{key}:tpm", "key", key, "tpm", limit, 60.0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_admits_the_limit_at_once_then_one_per_interval(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    bucket = rpm(60)
    admitted = sum(backend.acquire_now([bucket], [1]).allowed for _ in range(100))
    assert admitted == 60
    refused = backend.acquire_now([bucket], [1])
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    clock.now += 0.99
    assert not backend.acquire_now([bucket], [1]).allowed
    clock.now += 0.02
    assert backend.acquire_now([bucket], [1]).allowed
    assert not backend.acquire_now([bucket], [1]).allowed


def test_no_burst_at_a_window_edge(clock: Clock) -> None:
    """A fixed window would admit 2N around its edge; GCRA admits N + what refilled."""
    backend = MemoryBackend(clock)
    bucket = rpm(100)
    clock.now = 1059.9  # "just before the minute turns"
    first = sum(backend.acquire_now([bucket], [1]).allowed for _ in range(200))
    clock.now = 1060.1
    second = sum(backend.acquire_now([bucket], [1]).allowed for _ in range(200))
    assert first == 100
    assert second == 0  # 0.2 s refilled a third of one request


def test_remaining_and_reset(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    bucket = tpm(1000)
    decision = backend.acquire_now([bucket], [250])
    assert decision.allowed
    assert decision.remaining(bucket, 0) == 750
    assert decision.fills[0] == pytest.approx(15.0)  # 250 of 1000 per minute refill in 15 s


def test_all_or_nothing_across_buckets(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    a, b = rpm(10, "a"), tpm(100, "a")
    assert backend.acquire_now([a, b], [1, 80]).allowed
    refused = backend.acquire_now([a, b], [1, 80])
    assert not refused.allowed and refused.refused == 1
    # The request bucket was not charged by the refused attempt.
    assert backend.acquire_now([a], [1]).remaining(a, 0) == 8


def test_cost_above_the_limit_is_never_admitted(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    decision = backend.acquire_now([tpm(100)], [101])
    assert not decision.allowed and decision.retry_after == float("inf")


async def test_refund_restores_capacity_but_never_beyond_full(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    bucket = tpm(1000)
    assert backend.acquire_now([bucket], [900]).allowed
    assert not backend.acquire_now([bucket], [200]).allowed
    await backend.adjust([bucket], [-800])  # the call used 100 of its 900
    assert backend.acquire_now([bucket], [850]).allowed
    clock.now += 3600
    await backend.adjust([bucket], [-5000])  # a refund cannot create credit
    assert backend.acquire_now([bucket], [1000]).allowed
    assert not backend.acquire_now([bucket], [1]).allowed


async def test_overrun_is_charged(clock: Clock) -> None:
    backend = MemoryBackend(clock)
    bucket = tpm(1000)
    assert backend.acquire_now([bucket], [100]).allowed
    await backend.adjust([bucket], [+900])
    decision = backend.acquire_now([bucket], [1])
    assert not decision.allowed and decision.retry_after == pytest.approx(0.06, abs=1e-6)


def test_idle_buckets_are_swept(clock: Clock) -> None:
    backend = MemoryBackend(clock, max_keys=10)
    for i in range(10):
        backend.acquire_now([rpm(5, f"k{i}")], [1])
    clock.now += 61
    backend.acquire_now([rpm(5, "new")], [1])
    assert backend.status()["buckets"] == 1
