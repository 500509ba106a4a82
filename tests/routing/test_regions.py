"""Region preference and failover: the preferred region first, the next region in
the configured order when a whole region is down, and back when it recovers."""

import time

import openai

from switchyard.core.call import Call
from switchyard.routing.regions import RegionPreference, order_by_region
from tests.policies.upstreams import Killable, get_json

MESSAGES = [{"role": "user", "content": "hello region"}]


class D:
    def __init__(self, id, region, alias="m"):
        self.id, self.region, self.alias = id, region, alias


def ids(deployments):
    return [d.id for d in deployments]


def test_order_prefers_header_then_alias_then_gateway_region_then_configured_order():
    ds = [D("us1", "us"), D("eu1", "eu"), D("ap1", "ap"), D("eu2", "eu"), D("none", None)]
    prefs = RegionPreference(default="ap", order=["eu", "us"], by_alias={"other": "us"})
    assert ids(order_by_region(ds, Call("r"), prefs)) == ["ap1", "eu1", "eu2", "us1", "none"]
    assert ids(order_by_region(ds, Call("r", headers={"x-switchyard-region": "us"}), prefs))[:2] == ["us1", "eu1"]
    others = [D(d.id, d.region, alias="other") for d in ds]
    assert ids(order_by_region(others, Call("r"), prefs))[0] == "us1"
    assert order_by_region(ds, Call("r"), None) is ds
    assert order_by_region(ds, Call("r"), RegionPreference()) is ds  # nothing configured: identity


def test_a_whole_region_down_moves_traffic_and_it_comes_back(start_gateway):
    eu = [Killable(), Killable()]
    us = Killable()
    deployments = [
        {"provider": "openai", "model": "m", "base_url": eu[0].base_url, "api_key": "k", "id": "eu-1", "region": "eu"},
        {"provider": "openai", "model": "m", "base_url": us.base_url, "api_key": "k", "id": "us-1", "region": "us"},
        {"provider": "openai", "model": "m", "base_url": eu[1].base_url, "api_key": "k", "id": "eu-2", "region": "eu"},
    ]
    try:
        gateway = start_gateway({
            "auth": {"master_key": "sk-m"},
            "reliability": {"region": "eu", "region_order": ["eu", "us"], "retry": {"attempts": 1},
                            "breaker": {"consecutive_failures": 1, "open_for": 0.5},
                            "health_checks": {"interval": 0.1, "timeout": 0.5}},
            "models": {"m": {"deployments": deployments}},
        })
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=10)

        def served() -> str:
            response = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
            return response.headers["x-switchyard-deployment"]

        assert {served() for _ in range(4)} == {"eu-1", "eu-2"}  # the preferred region only
        for mock in eu:
            mock.stop()
        # Every request still succeeds: the first ones find eu refusing and fall back within the group.
        seen = [served() for _ in range(6)]
        assert seen[-3:] == ["us-1"] * 3
        _, ready = get_json(gateway.url, "/health/ready")
        assert not ready["deployments"]["eu-1"]["available"] and ready["deployments"]["us-1"]["available"]
        for mock in eu:
            mock.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # probes bring eu back (cross-thread effect: poll)
            _, ready = get_json(gateway.url, "/health/ready")
            if ready["deployments"]["eu-1"]["available"] and ready["deployments"]["eu-2"]["available"]:
                break
            time.sleep(0.05)
        assert {served() for _ in range(4)} <= {"eu-1", "eu-2"}
    finally:
        for mock in (*eu, us):
            mock.stop()
