"""A/B experiments: a weighted split's variants on the answers, their outcomes and feedback
reported per variant with confidence intervals (a gateway on loopback, mock upstreams, the openai SDK)."""

import json
from collections import Counter

import openai
import pytest

from switchyard.core.config import ConfigError, parse_config
from switchyard.observe.experiments import Sums, wilson
from tests.routing.helpers import client
from tests.server.raw_http import request

MASTER = "sk-master-experiments"


def test_intervals():
    assert wilson(0, 0) is None
    assert wilson(0, 10) == [0.0, 0.277533]
    assert wilson(5, 10) == [0.236593, 0.763407]
    sums = Sums()
    sums.add(1.0)
    assert sums.report() == {"count": 1, "mean": 1.0, "ci95": None}
    for value in (0.0, 1.0, 0.0):
        sums.add(value)
    mean, (low, high) = sums.report()["mean"], sums.report()["ci95"]
    assert mean == 0.5 and low == pytest.approx(0.5 - 1.959964 * (1 / 3) ** 0.5 / 2, abs=1e-6) and high > 0.5
    sums.add(1.0, -1)  # a score replaced
    assert sums.report()["count"] == 3


def test_an_experiment_is_a_named_weighted_split():
    fake = {"provider": "fake", "model": "echo"}
    with pytest.raises(ConfigError, match="strategy: weighted"):
        parse_config({"models": {"a": {"experiment": "x", "deployments": [fake, fake]}}})
    with pytest.raises(ConfigError, match="two deployments"):
        parse_config({"models": {"a": {"experiment": "x", "strategy": "weighted", "deployments": [fake]}}})
    with pytest.raises(ConfigError, match="also models.a's"):
        split = {"experiment": "x", "strategy": "weighted", "deployments": [fake, fake]}
        parse_config({"models": {"a": split, "b": split}})


def test_variants_are_reported_with_requests_cost_latency_errors_and_feedback(start_mock, start_gateway,
                                                                            openai_deployment):
    control, treatment = start_mock(), start_mock()
    gateway = start_gateway({
        "auth": {"master_key": MASTER},
        "reliability": {"retry": {"attempts": 1}},
        "models": {"summarise": {"strategy": "weighted", "experiment": "prompt-v2", "deployments": [
            openai_deployment(control, id="control", weight=1, price={"input": 1, "output": 2}),
            openai_deployment(treatment, id="treatment", weight=1, price={"input": 3, "output": 6}),
            # answers 400: counted as errors of its own variant (nothing falls back from a 400)
            openai_deployment(treatment, id="broken", weight=1, headers={"x-mock-status": "400"}),
        ]}},
    })
    sdk = client(gateway, MASTER)
    seen, cost, ids = Counter(), Counter(), {}
    for n in range(45):
        try:
            raw = sdk.chat.completions.with_raw_response.create(
                model="summarise", messages=[{"role": "user", "content": f"summarise item {n}"}])
        except openai.BadRequestError as exc:
            assert exc.response.headers["x-switchyard-variant"] == "broken"
            seen["broken"] += 1
            continue
        assert raw.headers["x-switchyard-experiment"] == "prompt-v2"
        variant = raw.headers["x-switchyard-variant"]
        assert variant == raw.headers["x-switchyard-deployment"]
        seen[variant] += 1
        cost[variant] += float(raw.headers["x-switchyard-cost-usd"])
        ids[raw.headers["x-request-id"]] = variant
    assert set(seen) == {"control", "treatment", "broken"}
    # feedback by request id: 1.0 for control's answers, 0.25 for treatment's (without slo:)
    for request_id, variant in ids.items():
        answer = sdk.post("/feedback", cast_to=object, body={"request_id": request_id,
                                                              "score": 1.0 if variant == "control" else 0.25})
        assert answer["variant"] == variant and answer["experiment"] == "prompt-v2"

    answer = request(gateway.url, "GET", "/admin/experiments/prompt-v2", headers={"authorization": f"Bearer {MASTER}"})
    assert answer.status == 200
    report = json.loads(answer.body)
    assert report["name"] == "prompt-v2" and report["alias"] == "summarise"
    variants = {v["variant"]: v for v in report["variants"]}
    for name in ("control", "treatment"):
        v = variants[name]
        assert v["requests"] == seen[name] and v["errors"] == 0
        assert v["error_rate"]["value"] == 0.0 and v["error_rate"]["ci95"][0] == 0.0
        assert v["cost_usd"]["total"] == pytest.approx(cost[name], rel=1e-6)
        assert v["latency_ms"]["count"] == seen[name] and v["latency_ms"]["mean"] > 0
        assert v["feedback"]["count"] == seen[name]
    assert variants["control"]["feedback"]["mean"] == 1.0 and variants["control"]["feedback"]["ci95"] == [1.0, 1.0]
    assert variants["treatment"]["feedback"]["mean"] == 0.25
    # the dearer variant costs more per request, each mean inside its interval
    assert variants["treatment"]["cost_usd"]["mean"] > variants["control"]["cost_usd"]["mean"]
    low, high = variants["control"]["latency_ms"]["ci95"]
    assert low <= variants["control"]["latency_ms"]["mean"] <= high
    broken = variants["broken"]
    assert broken["requests"] == broken["errors"] == seen["broken"] and broken["error_rate"]["value"] == 1.0
    assert broken["feedback"]["count"] == 0 and broken["latency_ms"]["mean"] is None
    assert 0.5 < broken["error_rate"]["ci95"][0] < 1.0 == broken["error_rate"]["ci95"][1]

    listing = json.loads(request(gateway.url, "GET", "/admin/experiments",
                                 headers={"authorization": f"Bearer {MASTER}"}).body)
    assert listing["data"] == [{"name": "prompt-v2", "alias": "summarise",
                                "variants": ["control", "treatment", "broken"], "requests": 45}]
    assert request(gateway.url, "GET", "/admin/experiments/prompt-v2").status == 401


def test_a_stream_says_its_variant_and_is_counted_at_its_end(start_gateway):
    gateway = start_gateway({"models": {"chat": {"strategy": "weighted", "experiment": "streams", "deployments": [
        {"provider": "fake", "model": "echo", "id": "a"}, {"provider": "fake", "model": "echo", "id": "b"}]}}})
    sdk = client(gateway)
    stream = sdk.chat.completions.with_raw_response.create(
        model="chat", stream=True, messages=[{"role": "user", "content": "one two three"}])
    variant = stream.headers["x-switchyard-variant"]
    assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices) == "one two three"
    report = json.loads(request(gateway.url, "GET", "/admin/experiments/streams").body)
    counted = {v["variant"]: v["requests"] for v in report["variants"]}
    assert counted == {"a": 1 if variant == "a" else 0, "b": 1 if variant == "b" else 0}
