"""Each strategy's order, and that unavailable deployments are skipped by all of them."""

from collections import Counter

import pytest

from switchyard.routing.balancers import STRATEGIES

from .helpers import Down, build, call, chat, fakes


def first_picks(router, group, n, request=None):
    return Counter(router.candidates(group, request or chat(), call())[0].id for _ in range(n))


def test_round_robin_spreads_evenly():
    catalog, router = build({"g": {"deployments": fakes(4)}})
    counts = first_picks(router, catalog.resolve("g"), 400)
    assert counts == {"d0": 100, "d1": 100, "d2": 100, "d3": 100}


@pytest.mark.parametrize("weights", [(90, 10), (50, 30, 20), (99, 1)])
def test_weighted_split_within_tolerance(weights):
    """20,000 picks: each share within 2 percentage points of its weight's share."""
    deployments = [{"provider": "fake", "model": "echo", "id": f"d{i}", "weight": w} for i, w in enumerate(weights)]
    catalog, router = build({"g": {"strategy": "weighted", "deployments": deployments}})
    n = 20_000
    counts = first_picks(router, catalog.resolve("g"), n)
    total = sum(weights)
    for i, weight in enumerate(weights):
        assert abs(counts[f"d{i}"] / n - weight / total) < 0.02, counts


def test_weight_zero_is_never_first_but_still_a_fallback():
    deployments = [{"provider": "fake", "model": "echo", "id": "main", "weight": 1},
                   {"provider": "fake", "model": "echo", "id": "spare", "weight": 0}]
    catalog, router = build({"g": {"strategy": "weighted", "deployments": deployments}})
    group = catalog.resolve("g")
    for _ in range(200):
        assert [d.id for d in router.candidates(group, chat(), call())] == ["main", "spare"]


def test_least_busy_prefers_fewest_in_flight():
    catalog, router = build({"g": {"strategy": "least_busy", "deployments": fakes(3)}})
    group = catalog.resolve("g")
    loads = {"d0": 5, "d1": 0, "d2": 2}
    for d in group.deployments:
        d.load.inflight = loads[d.id]
    assert [d.id for d in router.candidates(group, chat(), call())] == ["d1", "d2", "d0"]


def test_tracker_counts_in_flight_until_the_call_ends():
    catalog, router = build({"g": {"strategy": "least_busy", "deployments": fakes(2)}})
    group = catalog.resolve("g")
    tracker = router.tracker(group)
    d0 = group.deployments[0]
    started = tracker.begin(d0)
    assert d0.load.inflight == 1
    assert router.candidates(group, chat(), call())[0].id == "d1"
    tracker.succeeded(d0, started, object())
    assert d0.load.inflight == 0 and d0.load.latency is not None


def test_latency_prefers_lowest_ewma_and_explores():
    catalog, router = build({"g": {"strategy": "latency", "deployments": fakes(2)}},
                            {"latency": {"explore": 0.1, "decay": 0.5}})
    group = catalog.resolve("g")
    fast, slow = group.deployments
    fast.load.observe(latency=0.05)
    slow.load.observe(latency=0.5)
    counts = first_picks(router, group, 2000)
    assert 0.05 < counts["d1"] / 2000 < 0.16  # the 10% of exploring picks go to the other one
    for _ in range(5):  # the slow one recovers: a few fast samples bring it back
        slow.load.observe(latency=0.01)
    assert first_picks(router, group, 200)["d1"] > 150


def test_latency_uses_time_to_first_token_for_streams():
    catalog, router = build({"g": {"strategy": "latency", "deployments": fakes(2)}}, {"latency": {"explore": 0}})
    group = catalog.resolve("g")
    a, b = group.deployments
    a.load.observe(latency=2.0, ttft=0.5)  # long answers but quick to start
    b.load.observe(latency=1.0, ttft=0.9)
    assert router.candidates(group, chat(stream=True), call())[0].id == "d0"
    assert router.candidates(group, chat(), call())[0].id == "d1"


def test_cost_picks_cheapest_for_the_estimated_tokens_unpriced_last():
    deployments = [
        {"provider": "fake", "model": "echo", "id": "cheap-in", "price": {"input": 0.1, "output": 10}},
        {"provider": "fake", "model": "echo", "id": "cheap-out", "price": {"input": 5, "output": 0.5}},
        {"provider": "fake", "model": "echo", "id": "unpriced"},
    ]
    catalog, router = build({"g": {"strategy": "cost", "deployments": deployments}})
    group = catalog.resolve("g")
    long_prompt = chat("word " * 4000, max_tokens=10)
    short_prompt_long_answer = chat("hi", max_tokens=4000)
    assert [d.id for d in router.candidates(group, long_prompt, call())] == ["cheap-in", "cheap-out", "unpriced"]
    assert [d.id for d in router.candidates(group, short_prompt_long_answer, call())][0] == "cheap-out"


def test_headroom_prefers_most_remaining_capacity():
    deployments = [
        {"provider": "fake", "model": "echo", "id": "small", "rpm": 10},
        {"provider": "fake", "model": "echo", "id": "big", "rpm": 1000},
    ]
    catalog, router = build({"g": {"strategy": "headroom", "deployments": deployments}})
    group = catalog.resolve("g")
    tracker = router.tracker(group)
    small, big = group.deployments
    for _ in range(5):
        tracker.failed(small, tracker.begin(small), False)
    for _ in range(20):
        tracker.failed(big, tracker.begin(big), False)
    # small used 5/10, big 20/1000: big has more headroom
    assert router.candidates(group, chat(), call())[0].id == "big"


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_skips_unavailable(strategy):
    catalog, router = build({"g": {"strategy": strategy, "deployments": fakes(5, price={"input": 1})}})
    group = catalog.resolve("g")
    group.deployments[1].health = Down()
    group.deployments[3].health = Down()
    for _ in range(50):
        ids = [d.id for d in router.candidates(group, chat(), call())]
        assert sorted(ids) == ["d0", "d2", "d4"]


def test_when_nothing_is_available_every_deployment_is_tried():
    catalog, router = build({"g": {"deployments": fakes(2)}})
    group = catalog.resolve("g")
    for d in group.deployments:
        d.health = Down()
    assert len(router.candidates(group, chat(), call())) == 2


def test_cost_quotes_prices_that_rise_with_the_prompt_at_the_tier_it_falls_in():
    from switchyard.pricing.sheet import PriceSheet, Rates
    from switchyard.routing.load import DeploymentLoad

    catalog, router = build({"g": {"strategy": "cost", "deployments": fakes(2)}})
    group = catalog.resolve("g")
    tiered = PriceSheet(Rates(input=1e-6, output=1e-6), tiers=((1000, Rates(input=10e-6, output=1e-6)),))
    flat = PriceSheet(Rates(input=5e-6, output=1e-6))
    for deployment, sheet in zip(group.deployments, (tiered, flat)):
        deployment.load = DeploymentLoad(config=deployment.config, price=sheet)
    assert [d.id for d in router.candidates(group, chat("hi", max_tokens=10), call())] == ["d0", "d1"]
    long_prompt = chat("word " * 4000, max_tokens=10)  # past 1000 tokens: the tier's $10 beats the flat $5
    assert [d.id for d in router.candidates(group, long_prompt, call())] == ["d1", "d0"]
