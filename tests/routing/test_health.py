"""Deployment health: passive (breaker fed by live traffic) and active probes."""

import time

import openai

from switchyard.core.config.reliability import BreakerConfig
from switchyard.core.errors import UpstreamTimeout
from switchyard.policies.breaker import CircuitBreaker
from switchyard.routing.health import DeploymentHealth
from tests.policies.upstreams import get_json

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hello health"}]


def test_a_bare_health_is_always_available():
    health = DeploymentHealth()
    health.record_failure(UpstreamTimeout("slow"))
    assert health.available and health.snapshot()["failures"] == 1


def test_passive_failures_open_the_breaker_and_leave_rotation():
    health = DeploymentHealth(CircuitBreaker("d", BreakerConfig(consecutive_failures=2)))
    health.record_success(0.01)
    health.record_failure(UpstreamTimeout("slow"))
    assert health.available
    health.record_failure(UpstreamTimeout("slow"))
    snapshot = health.snapshot()
    assert not health.available and snapshot["breaker"]["state"] == "open" and "slow" in snapshot["last_error"]


def test_probes_take_a_deployment_out_and_bring_it_back_only_after_successes():
    health = DeploymentHealth(CircuitBreaker("d", BreakerConfig()))
    health.record_probe(False, "GET /models -> 503", unhealthy_after=2, healthy_after=2)
    assert health.available  # one failed probe is not enough
    health.record_probe(False, "GET /models -> 503", unhealthy_after=2, healthy_after=2)
    assert not health.available
    health.record_probe(True, "GET /models -> 200", unhealthy_after=2, healthy_after=2)
    assert not health.available  # needs two good probes in a row
    health.record_probe(True, "GET /models -> 200", unhealthy_after=2, healthy_after=2)
    assert health.available and health.snapshot()["probe"] == {"ok": True, "detail": "GET /models -> 200", "healthy": True}


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # a background task in another thread: poll
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_active_probes_remove_a_sick_deployment_before_traffic_hits_it(start_mock, start_gateway, openai_deployment):
    sick, well = start_mock(), start_mock()
    gateway = start_gateway({
        "auth": {"master_key": "sk-m"},
        "reliability": {"health_checks": {"interval": 0.1, "timeout": 1, "probe": "models", "healthy_after": 2}},
        "models": {"gpt": {"deployments": [openai_deployment(sick, id="sick"), openai_deployment(well, id="well")]}},
    })
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=10)

    def available(deployment_id):
        return get_json(gateway.url, "/health/ready")[1]["deployments"][deployment_id]["available"]

    sick.set_faults(status=503)
    assert wait_for(lambda: not available("sick"))
    sick_calls = sick.count(CHAT)
    for _ in range(6):
        response = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
        assert response.headers["x-switchyard-deployment"] == "well"
    assert sick.count(CHAT) == sick_calls  # no live request reached it
    assert sick.count("/v1/models") >= 1

    sick.reset()
    assert wait_for(lambda: available("sick"))
    served = {client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
              .headers["x-switchyard-deployment"] for _ in range(6)}
    assert served == {"sick", "well"}

    status, detail = get_json(gateway.url, "/admin/deployments")
    assert status == 200 and detail["health_check_rounds"] >= 2
    assert {d["id"]: d["probe"]["healthy"] for d in detail["deployments"]} == {"sick": True, "well": True}
    status, _ = get_json(gateway.url, "/admin/deployments", key="sk-not-master")
    assert status in (401, 403)


def test_wildcard_deployments_are_probed_once_built(start_mock, start_gateway):
    """A wildcard alias's deployment exists only after its first request; from then
    on the active checks probe it like any configured one."""
    mock = start_mock()
    gateway = start_gateway({
        "auth": {"master_key": "sk-m"},
        "reliability": {"health_checks": {"interval": 0.1, "timeout": 1, "probe": "models", "unhealthy_after": 1}},
        "models": {"up/*": {"deployments": [{"provider": "openai", "model": "*", "base_url": mock.base_url,
                                             "api_key": "sk-upstream"}]}},
    })
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=10)
    client.chat.completions.create(model="up/gpt-4o-mini", messages=MESSAGES)
    mock.set_faults(status=503)

    def available():
        return get_json(gateway.url, "/health/ready")[1]["deployments"]["up/gpt-4o-mini#0"]["available"]

    assert wait_for(lambda: not available())
    assert mock.count("/v1/models") >= 1
