"""Policies in-process: plugin detectors from entry points, failing closed (or open), timeouts,
the moderation check, which policy a call gets, config errors, and where the stage sits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import switchyard
from switchyard.auth import Caller
from switchyard.core.call import Call
from switchyard.core.config import ConfigError, parse_config
from switchyard.core.errors import GuardUnavailable, ModerationFlagged
from switchyard.core.messages import validate_chat
from switchyard.core.registry import DetectorRegistry, UnknownPlugin
from switchyard.guard.policy import Policies
from switchyard.guard.stage import Guard
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.resolve import Resolve

PLUGIN_DIST = Path(__file__).parent / "plugin_dist"
ECHO = {"deployments": [{"provider": "fake", "model": "echo"}]}


def config(*detectors: dict[str, Any], **policy: Any) -> dict[str, Any]:
    return {"guard": {"default": "p", "detectors": list(detectors), "policies": {"p": {"action": "mask", **policy}}},
            "models": {"chat": ECHO, "fake/timeout": {"deployments": [{"provider": "fake", "model": "timeout"}]},
                       "judge": ECHO}}


async def ask(client: switchyard.AsyncClient, text: str) -> tuple[str, str]:
    """``(what the upstream got, what the client got)``."""
    services = await client.start()
    call = Call("r")
    answer = await services.pipeline.chat(validate_chat({"model": "chat", "messages": [
        {"role": "user", "content": text}]}), call)
    return call.request.messages[0]["content"], answer.text


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIST))  # the test distribution's entry points are now installed


async def test_a_plugin_detector_found_by_its_entry_point_masks_its_own_categories(plugins):
    assert "names" in DetectorRegistry().names()
    names = {"name": "people", "plugin": "names", "options": {"names": ["Ada Lovelace"]}}
    async with switchyard.AsyncClient(config(names)) as client:
        sent, got = await ask(client, "Ada Lovelace wrote to ada@example.com")
    assert sent == "[PERSON_1] wrote to [EMAIL_1]" and got == "Ada Lovelace wrote to ada@example.com"


async def test_a_failing_detector_blocks_the_request_by_default(plugins):
    failing = {"name": "analyzer", "plugin": "failing"}
    async with switchyard.AsyncClient(config(failing)) as client:
        with pytest.raises(GuardUnavailable) as refused:
            await ask(client, "ada@example.com")
    assert refused.value.status == 503 and "`analyzer`" in refused.value.message
    assert "ConnectionError" in refused.value.message and "ada@" not in refused.value.message


async def test_a_slow_detector_times_out_and_blocks(plugins):
    slow = {"name": "analyzer", "plugin": "slow", "options": {"seconds": 5}}
    async with switchyard.AsyncClient(config(slow, timeout=0.2)) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(GuardUnavailable) as refused:
            await ask(client, "hello")
        assert asyncio.get_running_loop().time() - started < 2
        plugin = client.services.guard.policies.plugins["analyzer"]  # type: ignore[union-attr]
    assert "no answer within 0.2 s" in refused.value.message
    assert plugin.closed  # plugins are closed with the gateway


async def test_a_policy_may_fail_open_and_still_masks_what_the_built_ins_found(plugins, caplog):
    failing = {"name": "analyzer", "plugin": "failing"}
    async with switchyard.AsyncClient(config(failing, on_error="open")) as client:
        sent, got = await ask(client, "mail ada@example.com")
    assert sent == "mail [EMAIL_1]" and got == "mail ada@example.com"
    assert any(r.message == "guard_detector_failed" and r.outcome == "passed" for r in caplog.records)


def test_an_unknown_plugin_is_refused_at_start_naming_it():
    with pytest.raises(UnknownPlugin) as refused:
        switchyard.Client(config({"name": "analyzer", "plugin": "nowhere"}))
    assert "nowhere" in refused.value.message and refused.value.param == "guard.detectors"


def test_the_presidio_detector_without_presidio_installed_says_what_to_install():
    with pytest.raises(ConfigError) as refused:
        switchyard.Client(config({"name": "presidio", "plugin": "presidio"}))
    assert "pip install 'switchyard[presidio]'" in str(refused.value)


async def test_moderation_refuses_what_the_classifier_flags_and_passes_the_rest():
    judged = config(moderation={"alias": "judge", "timeout": 2})
    async with switchyard.AsyncClient(judged) as client:
        with pytest.raises(ModerationFlagged) as flagged:
            await ask(client, "unsafe\nS1, S10")  # the echoing classifier answers with the text it was sent
        assert flagged.value.message == "The request was refused by the moderation check (S1, S10)."
        sent, got = await ask(client, "a fine question from ada@example.com")
    assert sent == "a fine question from [EMAIL_1]" and got.endswith("ada@example.com")


async def test_moderation_that_does_not_answer_blocks_or_passes_by_policy():
    closed = config(moderation={"alias": "fake/timeout", "timeout": 0.2})
    async with switchyard.AsyncClient(closed) as client:
        with pytest.raises(GuardUnavailable) as refused:
            await ask(client, "hello")
    assert "moderation check `fake/timeout` gave no answer within 0.2 s" in refused.value.message
    opened = config(moderation={"alias": "fake/timeout", "timeout": 0.2, "on_error": "open"})
    async with switchyard.AsyncClient(opened) as client:
        assert (await ask(client, "hello"))[1] == "hello"


def test_which_policy_a_call_gets():
    parsed = parse_config({
        "guard": {"default": "base", "policies": {"base": {}, "alias": {}, "key": {}}},
        "models": {"chat": {**ECHO, "guard": "alias"}, "free": {**ECHO, "guard": "off"}, "other": ECHO,
                   "groq/*": {"deployments": [{"provider": "fake", "model": "*"}], "guard": "alias"}}})
    with switchyard.Client(parsed) as client:
        catalog = client._client.services.catalog  # type: ignore[union-attr]
        policies = Policies(parsed, DetectorRegistry(use_entry_points=False))

        def policy(alias: str, caller: Caller | None = None) -> str | None:
            call = Call("r", caller=caller)
            call.group = catalog.resolve(alias)
            found = policies.for_call(call)
            return None if found is None else found.name

        assert policy("chat") == "alias" and policy("groq/llama") == "alias"
        assert policy("free") is None and policy("other") == "base"
        assert policy("free", Caller("k", guard="key")) == "key"
        assert policy("chat", Caller("k", guard="off")) is None
        with pytest.raises(GuardUnavailable, match="`missing`"):
            policy("chat", Caller("k", guard="missing"))  # a virtual key naming a policy nobody defined


@pytest.mark.parametrize(("guard", "where"), [
    ({"policies": {"p": {"categories": ["emial"]}}}, "guard.policies.p.categories"),
    ({"default": "nope", "policies": {"p": {}}}, "guard.default"),
    ({"policies": {"p": {"moderation": {"alias": "nowhere"}}}}, "guard.policies.p.moderation.alias"),
    ({"policies": {"p": {}}, "detectors": [{"name": "email", "regex": "x"}]}, "guard"),
    ({"policies": {"p": {}}, "detectors": [{"name": "bad", "regex": "("}]}, "guard.detectors"),
    ({"policies": {"p": {}}, "detectors": [{"name": "bad", "regex": "x", "deny": ["y"]}]}, "guard.detectors"),
    ({"policies": {"off": {}}}, "guard.policies"),
])
def test_config_mistakes_are_reported_with_their_path(guard, where):
    with pytest.raises(ConfigError) as bad:
        parse_config({"guard": guard, "models": {"chat": ECHO}})
    assert any(path.startswith(where) for path, _ in bad.value.problems), bad.value.problems


def test_the_guard_runs_right_after_resolve_and_only_with_policies():
    with switchyard.Client(config()) as client:
        stages = client._client.services.pipeline.stages  # type: ignore[union-attr]
        assert [type(s) for s in stages] == [Authenticate, Resolve, Guard]
    with switchyard.Client({"models": {"chat": ECHO}}) as client:
        assert Guard not in [type(s) for s in client._client.services.pipeline.stages]  # type: ignore[union-attr]
