"""The router's cached availability: every change of a deployment's health is
seen by the very next decision, with or without an event."""

from switchyard.core.config.reliability import BreakerConfig
from switchyard.core.errors import UpstreamTimeout
from switchyard.policies.breaker import CircuitBreaker
from switchyard.routing.availability import Availability
from switchyard.routing.health import DeploymentHealth

from .helpers import Down, build, call, chat, fakes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def group_with_breakers(n=4, strategy="round_robin", **breaker):
    catalog, router = build({"g": {"strategy": strategy, "deployments": fakes(n)}})
    group = catalog.resolve("g")
    clock = Clock()
    settings = BreakerConfig(**{"consecutive_failures": 1, "open_for": 30, "half_open_probes": 1, **breaker})
    router.candidates(group, chat(), call())  # the plan and its cache exist before the healths change
    for d in group.deployments:
        d.health = DeploymentHealth(CircuitBreaker(d.id, settings, clock))
    return group, router, clock


def ids(router, group):
    return sorted(d.id for d in router.candidates(group, chat(), call()))


def test_a_tripped_breaker_leaves_at_once_and_returns_when_closed():
    group, router, _ = group_with_breakers()
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]
    d1 = group.deployments[1]
    d1.health.record_failure(UpstreamTimeout("slow"))
    assert ids(router, group) == ["d0", "d2", "d3"]
    d1.health.breaker.close()
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]


def test_an_open_breaker_returns_when_its_time_is_up_without_any_event():
    group, router, clock = group_with_breakers()
    group.deployments[2].health.breaker.trip()
    assert ids(router, group) == ["d0", "d1", "d3"]
    clock.now += 29
    assert ids(router, group) == ["d0", "d1", "d3"]
    clock.now += 2
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]


def test_half_open_probe_slots_are_counted_per_decision():
    group, router, clock = group_with_breakers()
    breaker = group.deployments[0].health.breaker
    breaker.trip()
    clock.now += 31
    assert breaker.acquire()  # half-open: the one probe slot is taken
    assert ids(router, group) == ["d1", "d2", "d3"]
    breaker.release()
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]


def test_probes_take_a_deployment_out_and_back():
    group, router, _ = group_with_breakers()
    health = group.deployments[3].health
    health.record_probe(False, "503")
    assert ids(router, group) == ["d0", "d1", "d2"]
    health.record_probe(True, "200")
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]


def test_a_state_adopted_from_another_replica_is_seen():
    group, router, clock = group_with_breakers()
    breaker = group.deployments[1].health.breaker
    breaker.adopt("open", clock.now + 60, 1)
    assert ids(router, group) == ["d0", "d2", "d3"]
    breaker.adopt("closed", 0.0, 2)
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]


def test_replacing_or_deleting_a_health_object_is_seen():
    group, router, _ = group_with_breakers()
    d0 = group.deployments[0]
    d0.health = Down()
    assert ids(router, group) == ["d1", "d2", "d3"]
    del d0.health
    d0.health = DeploymentHealth()
    assert ids(router, group) == ["d0", "d1", "d2", "d3"]
    d0.health.record_probe(False, "down")
    assert ids(router, group) == ["d1", "d2", "d3"]


def test_every_strategy_sees_a_change_on_the_next_decision():
    for strategy in ("round_robin", "weighted", "least_busy", "latency", "cost", "headroom"):
        group, router, _ = group_with_breakers(5, strategy)
        assert len(router.candidates(group, chat(), call())) == 5
        group.deployments[4].health.breaker.trip()
        assert "d4" not in ids(router, group), strategy
        group.deployments[4].health.breaker.close()
        assert "d4" in ids(router, group), strategy


def test_the_answer_is_reused_until_something_changes_and_never_handed_out():
    group, router, _ = group_with_breakers()
    availability = router.plan(group).availability
    first = availability.current()
    assert availability.current() is first  # nothing changed: no new list, nobody asked
    candidates = router.candidates(group, chat(), call())
    assert candidates is not first
    candidates.clear()  # a caller mutating its candidates does not touch the cache
    assert len(router.candidates(group, chat(), call())) == 4
    group.deployments[0].health.breaker.trip()
    second = availability.current()
    assert second is not first and len(second) == 3


def test_watchers_are_weak_and_a_bare_list_works():
    health = DeploymentHealth()
    deployments = [type("D", (), {"health": health})()]
    availability = Availability(deployments)
    assert availability.current() == deployments
    del availability  # a dropped plan is not kept alive by the healths it watched
    health.changed()
    assert len(health._watchers) == 0
