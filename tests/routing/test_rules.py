"""The rule table: first match wins; each kind of condition; route headers."""

import pytest

from switchyard.auth import Caller
from switchyard.core.call import Call

from .helpers import build, call, chat, fakes

RULES = [
    {"name": "needs-vision", "when": {"needs": ["vision"]}, "route": "vision"},
    {"name": "long", "when": {"min_prompt_tokens": 1000}, "route": "long"},
    {"name": "sql", "when": {"regex": r"\bselect\b.+\bfrom\b"}, "route": "coder"},
    {"name": "poetry", "when": {"keywords": ["poem", "haiku"]}, "route": "creative"},
    {"name": "acme", "when": {"metadata": {"tenant": "acme"}}, "route": "acme"},
    {"name": "batchy", "when": {"headers": {"X-Use-Case": "batch"}}, "route": "cheap"},
    {"name": "tagged", "when": {"tags": ["beta", "eu"]}, "route": "beta"},
    {"name": "pricey", "when": {"models": ["premium"], "cost_above": 0.01}, "route": "cheap"},
]
ALIASES = ["vision", "long", "coder", "creative", "acme", "cheap", "beta", "g"]


@pytest.fixture
def router():
    models = {alias: {"deployments": [{**fakes(1)[0], "id": f"{alias}#0"}]} for alias in ALIASES}
    models["premium"] = {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 10, "output": 30}}]}
    return build(models, {"rules": RULES})[1]


IMAGE = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]


@pytest.mark.parametrize(
    ("request_", "headers", "expected"),
    [
        (chat("plain question"), {}, (None, "g")),
        (chat(IMAGE), {}, ("needs-vision", "vision")),
        (chat("word " * 2000), {}, ("long", "long")),
        (chat("SELECT name FROM users"), {}, ("sql", "coder")),
        (chat("write a Haiku about trains"), {}, ("poetry", "creative")),
        (chat("poems are not poem-adjacent? poemless"), {}, ("poetry", "creative")),
        (chat("hello", metadata={"tenant": "acme"}), {}, ("acme", "acme")),
        (chat("hello"), {"x-use-case": "batch"}, ("batchy", "cheap")),
        (chat("hello", metadata={"tags": ["eu", "beta", "x"]}), {}, ("tagged", "beta")),
        (chat("hello", metadata={"tags": "beta, eu"}), {}, ("tagged", "beta")),
        (chat("hello", metadata={"tags": ["beta"]}), {}, (None, "g")),
        (chat("a poem", metadata={"tenant": "acme"}), {}, ("poetry", "creative")),  # order decides
    ],
)
def test_rule_table(router, request_, headers, expected):
    c = Call("t", headers=headers)
    alias = router.route("g", request_, c)
    assert (c.route.get("rule"), alias) == expected
    assert c.route["route"] == expected[1]


def test_keywords_match_whole_words_only(router):
    c = call()
    assert router.route("g", chat("poemless prose"), c) == "g" and "rule" not in c.route


def test_tenant_from_the_callers_key(router):
    c = Call("t", caller=Caller(name="k", tenant="acme"))
    assert router.route("g", chat("hello"), c) == "acme"


def test_cost_ceiling_on_the_requested_model(router):
    cheap_request = chat("hi", max_tokens=10)
    costly_request = chat("word " * 800, max_tokens=1000)  # ~1000 in * $10/M + 1000 out * $30/M = $0.04
    assert router.route("premium", cheap_request, call()) == "premium"
    c = call()
    assert router.route("premium", costly_request, c) == "cheap" and c.route["rule"] == "pricey"
    assert router.route("g", costly_request, call()) == "g"  # `models` limits the cost rule to premium


def test_explain_lists_each_rule_until_the_match(router):
    steps = router.rules.explain("g", chat("SELECT a FROM b"), call())
    assert [s["rule"] for s in steps] == ["needs-vision", "long", "sql"]
    assert steps[0]["failed"] == "needs" and steps[-1]["matched"]


def test_bad_regex_and_duplicate_names_are_config_errors():
    from switchyard.core.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="regular expression"):
        parse_config({"routing": {"rules": [{"name": "x", "when": {"regex": "("}, "route": "g"}]}})
    with pytest.raises(ConfigError, match="duplicate rule"):
        parse_config({"routing": {"rules": [{"name": "x", "route": "g"}, {"name": "x", "route": "h"}]}})


def test_route_tags_pick_the_tagged_deployments_of_the_routed_alias_and_dry_run_shows_them():
    import asyncio

    from switchyard.routing.dry_run import explain
    from tests.routing.helpers import build, call, chat

    models = {"g": {"deployments": [{"provider": "fake", "model": "echo", "id": "us-1", "tags": ["us"]},
                                    {"provider": "fake", "model": "echo", "id": "eu-1", "tags": ["eu", "gdpr"]},
                                    {"provider": "fake", "model": "echo", "id": "eu-2", "tags": ["eu"]}]}}
    rules = [{"name": "gdpr", "when": {"metadata": {"region": "eu"}}, "route": "g", "route_tags": ["eu", "gdpr"]}]
    catalog, router = build(models, {"rules": rules})
    group = catalog.resolve("g")
    for _ in range(6):
        c = call()
        request = chat(metadata={"region": "eu"})
        router.route("g", request, c)
        assert [d.id for d in router.candidates(group, request, c)] == ["eu-1"]
    c = call()
    router.route("g", chat(), c)  # no rule matched: every deployment
    assert len(router.candidates(group, chat(), c)) == 3
    report = asyncio.run(explain(router, catalog, {"model": "g", "metadata": {"region": "eu"},
                                                    "messages": [{"role": "user", "content": "hi"}]}, call()))
    assert report["route_tags"] == ["eu", "gdpr"] and report["chosen"] == "eu-1"
    assert {r["id"]: r["tags"] for r in report["candidates"]}["eu-2"] == ["eu"]


def test_route_tags_no_deployment_carries_is_a_config_error():
    from switchyard.core.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as bad:
        parse_config({"models": {"g": {"deployments": [{"provider": "fake", "model": "echo", "tags": ["us"]}]}},
                      "routing": {"rules": [{"name": "r", "route": "g", "route_tags": ["eu"]}]}})
    assert [p for p, _ in bad.value.problems] == ["routing.rules[0].route_tags"]
