"""Circuit breaker state machine (injectable clock, no sleeps) and the breaker policy."""

import asyncio

import pytest

from switchyard.core.call import Call
from switchyard.core.config.reliability import BreakerConfig
from switchyard.core.errors import CircuitOpen, InvalidRequest, UpstreamUnavailable
from switchyard.policies.breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, CircuitBreaker
from switchyard.routing.health import DeploymentHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def breaker(**settings):
    clock = Clock()
    return CircuitBreaker("d", BreakerConfig(**settings), clock), clock


def test_opens_on_consecutive_failures_and_a_success_resets_the_run():
    b, _ = breaker(consecutive_failures=3, min_requests=100)
    b.record_failure(UpstreamUnavailable("x"))
    b.record_failure(UpstreamUnavailable("x"))
    b.record_success()
    b.record_failure(UpstreamUnavailable("x"))
    b.record_failure(UpstreamUnavailable("x"))
    assert b.state is CLOSED and b.available
    b.record_failure(UpstreamUnavailable("x"))
    assert b.state is OPEN and not b.available and not b.acquire()


def test_opens_on_error_rate_only_past_the_minimum_request_count():
    b, clock = breaker(consecutive_failures=100, error_rate=0.5, min_requests=10, window=10)
    for _ in range(4):  # 4 failures of 8 calls: below the minimum count
        b.record_success()
        b.record_failure(UpstreamUnavailable("x"))
    assert b.state is CLOSED
    b.record_success()
    b.record_failure(UpstreamUnavailable("x"))  # 5 of 10: rate reached
    assert b.state is OPEN


def test_old_outcomes_leave_the_rolling_window():
    b, clock = breaker(consecutive_failures=100, error_rate=0.5, min_requests=4, window=10)
    for _ in range(2):
        b.record_failure(UpstreamUnavailable("x"))
    b.record_success()
    b.record_success()
    clock.now += 20  # everything above is out of the window (else: 3 of 5 failed)
    b.record_failure(UpstreamUnavailable("x"))
    assert b.state is CLOSED


def test_half_open_allows_limited_probes_then_closes():
    b, clock = breaker(consecutive_failures=1, open_for=5, half_open_probes=2)
    b.record_failure(UpstreamUnavailable("x"))
    assert b.state is OPEN and not b.acquire()
    clock.now += 5
    assert b.available  # ready to probe
    assert b.acquire() and b.acquire()
    assert b.state is HALF_OPEN and not b.acquire() and not b.available  # only two probes
    b.record_success()
    assert b.state is HALF_OPEN
    b.record_success()
    assert b.state is CLOSED and b.acquire()


def test_a_failed_probe_opens_again_for_a_full_period():
    b, clock = breaker(consecutive_failures=1, open_for=5)
    b.record_failure(UpstreamUnavailable("x"))
    clock.now += 5
    assert b.acquire()
    b.record_failure(UpstreamUnavailable("still down"))
    assert b.state is OPEN and b.open_until == clock.now + 5 and b.times_opened == 2
    assert "still down" in b.snapshot()["last_failure"]


def test_a_cancelled_probe_frees_its_slot():
    b, clock = breaker(consecutive_failures=1, open_for=1)
    b.record_failure(UpstreamUnavailable("x"))
    clock.now += 1
    assert b.acquire() and not b.acquire()
    b.release()
    assert b.acquire()


class Upstream:
    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = 0

    async def chat(self, request, call):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def stream(self, request, call):
        raise NotImplementedError


def test_policy_refuses_while_open_and_ignores_client_errors():
    clock = Clock()
    health = DeploymentHealth(CircuitBreaker("d", BreakerConfig(consecutive_failures=2), clock))
    upstream = Upstream([InvalidRequest("bad"), InvalidRequest("bad"), UpstreamUnavailable("a"), UpstreamUnavailable("b")])
    policy = BreakerPolicy("d", health)

    async def run():
        outcomes = []
        for _ in range(5):
            try:
                outcomes.append(await policy.unary(Call("r"), lambda c: upstream.chat(c.request, c)))
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes == ["InvalidRequest", "InvalidRequest", "UpstreamUnavailable", "UpstreamUnavailable", "CircuitOpen"]
    assert upstream.calls == 4  # the fifth call never reached the upstream
    assert health.snapshot()["breaker"]["state"] == "open" and not health.available
    assert CircuitOpen.retryable is False and CircuitOpen.fallback is True




async def test_a_stream_that_breaks_after_its_first_chunk_counts_against_the_breaker():
    """The failure comes after the stream opened (past the breaker policy): the route
    stage's stream wrapper still records it, so a deployment that keeps dropping streams opens
    (each stream opened fine, so it is the error rate that trips, not a streak)."""
    import switchyard
    from switchyard.core.errors import SwitchyardError

    config = {"models": {"m": {"deployments": [{"provider": "fake", "model": "break", "id": "dropper"}]}},
              "reliability": {"retry": {"attempts": 1},
                             "breaker": {"consecutive_failures": 100, "error_rate": 0.5, "min_requests": 2}}}
    async with switchyard.AsyncClient(config) as client:
        for _ in range(2):
            with pytest.raises(SwitchyardError):
                async for _chunk in client.stream(model="m", messages=[{"role": "user", "content": "one two three four"}]):
                    pass
        services = client.services
        assert services is not None
        (dropper,) = services.catalog.deployments()
        assert dropper.health.breaker.state == "open" and not dropper.health.available
