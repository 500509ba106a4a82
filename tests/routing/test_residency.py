"""Data residency: a caller pinned to regions is never served from outside them.

Two regions, each a mock upstream of its own (so where a request went is counted at
the upstream): ``eu-west`` (home) and ``us-east``. With the home region down, an
unpinned caller fails over to ``us-east`` (as the README's Reliability says); a pinned
one gets ``503 region_unavailable`` and ``us-east`` sees nothing — not by routing, the
alias fallbacks, a region failover, nor the ``x-switchyard-region`` header.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from switchyard.governance.snapshot import pinned_regions
from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.governance.conftest import AdminClient

MASTER, EU, ANYWHERE = "sk-master-regions", "sk-eu-only", "sk-anywhere"
HI = [{"role": "user", "content": "hi"}]
PATH = "/v1/chat/completions"


@pytest.fixture(scope="module")
def eu():
    with MockUpstreamThread() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def us():
    with MockUpstreamThread() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(eu, us):
    def at(upstream: MockUpstreamThread, region: str) -> dict[str, Any]:
        return {"provider": "openai", "model": "gpt-4o-mini", "base_url": upstream.base_url, "api_key": "sk-up",
                "region": region}

    config = {
        "auth": {"master_key": MASTER, "keys": [{"key": EU, "name": "eu-only", "regions": ["eu-west"]},
                                                {"key": ANYWHERE, "name": "anywhere"}]},
        "reliability": {"retry": {"attempts": 1}, "region": "eu-west", "region_order": ["eu-west", "us-east"]},
        "models": {
            "chat": {"deployments": [at(eu, "eu-west"), at(us, "us-east")], "fallbacks": ["backup"]},
            "backup": {"deployments": [at(us, "us-east")]},
            "us-only": {"deployments": [at(us, "us-east")]},
        },
    }
    with GatewayThread(config) as running:
        yield running


def client(gateway: GatewayThread, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def served_by(eu: MockUpstreamThread, us: MockUpstreamThread, ask: Any) -> tuple[int, int]:
    before = eu.count(PATH), us.count(PATH)
    ask()
    return eu.count(PATH) - before[0], us.count(PATH) - before[1]


def test_a_pinned_caller_stays_home_whatever_it_asks_for(gateway, eu, us):
    pinned = client(gateway, EU)
    for _ in range(4):
        assert served_by(eu, us, lambda: pinned.chat.completions.create(
            model="chat", messages=HI, extra_headers={"x-switchyard-region": "us-east"})) == (1, 0)
    streamed = served_by(eu, us, lambda: list(pinned.chat.completions.create(model="chat", messages=HI, stream=True)))
    assert streamed == (1, 0)


def test_with_the_home_region_down_a_pinned_caller_gets_a_clear_error_and_nothing_leaves_it(gateway, eu, us):
    eu.set_faults(status=503)
    try:
        anywhere = client(gateway, ANYWHERE)
        assert served_by(eu, us, lambda: anywhere.chat.completions.create(model="chat", messages=HI))[1] == 1

        pinned = client(gateway, EU)
        errors: list[Any] = []

        def refused() -> None:
            with pytest.raises(openai.APIStatusError) as error:
                pinned.chat.completions.create(model="chat", messages=HI)
            errors.append(error.value)
        assert served_by(eu, us, refused) == (1, 0)  # tried at home, never in us-east, nor its fallback there
        with pytest.raises(openai.APIStatusError) as streamed:
            list(pinned.chat.completions.create(model="chat", messages=HI, stream=True))
    finally:
        eu.reset()
    error = errors[0]
    assert error.status_code == 503 and error.body["code"] == "region_unavailable"
    assert "eu-west" in error.body["message"] and "never sent outside" in error.body["message"]
    assert [a["deployment"] for a in error.body["attempts"]] == ["chat#0"]
    assert streamed.value.status_code == 503 and streamed.value.body["code"] == "region_unavailable"


def test_an_alias_with_nothing_in_the_regions_is_refused_naming_them(gateway, eu, us):
    pinned = client(gateway, EU)

    def refused() -> None:
        with pytest.raises(openai.APIStatusError) as error:
            pinned.chat.completions.create(model="us-only", messages=HI)
        assert error.value.status_code == 503 and error.value.body["code"] == "region_unavailable"
        assert "No deployment of `us-only` is in the regions this caller is pinned to (eu-west)" in \
            error.value.body["message"]
    assert served_by(eu, us, refused) == (0, 0)


def test_virtual_keys_are_pinned_by_their_tenant_team_and_own_metadata(gateway, eu, us):
    admin = AdminClient(gateway.url, MASTER)
    admin.ok("POST", "/admin/tenants", {"name": "eu-bank", "metadata": {"regions": "eu-west"}})
    admin.ok("POST", "/admin/teams", {"name": "eu-ml", "tenant": "eu-bank"})
    wider = admin.ok("POST", "/admin/keys", {"team": "eu-ml", "metadata": {"regions": "eu-west, us-east"}})["key"]
    eu.set_faults(status=503)
    try:
        with pytest.raises(openai.APIStatusError) as error:
            client(gateway, wider).chat.completions.create(model="chat", messages=HI)  # the tenant's pin holds
    finally:
        eu.reset()
    assert error.value.body["code"] == "region_unavailable"
    assert served_by(eu, us, lambda: client(gateway, wider).chat.completions.create(model="chat", messages=HI)) == (1, 0)


def test_pins_narrow_never_widen():
    assert pinned_regions([{}, {"other": "x"}]) is None
    assert pinned_regions([{"regions": "eu-west, us-east"}, {}, {"regions": "eu-west"}]) == frozenset({"eu-west"})
    assert pinned_regions([{"regions": "us-east"}, {"regions": "eu-west"}]) == frozenset()


def test_a_residency_refusal_counts_as_the_gateways_own():
    from switchyard.core.errors import RegionUnavailable, UpstreamUnavailable
    from switchyard.observe.labels import rejection

    assert rejection(RegionUnavailable("nothing inside")) == "region"
    assert rejection(UpstreamUnavailable("the upstream's own failure")) is None
