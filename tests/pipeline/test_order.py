"""The request pipeline: its order, the fold, and plugin stages."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import openai
import pytest

import switchyard
from switchyard.core.call import Call
from switchyard.core.errors import InvalidRequest, UpstreamTimeout
from switchyard.core.registry import StageRegistry, UnknownPlugin
from switchyard.core.stage import fold
from switchyard.pipeline.stages.admit import Admit
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.resolve import Resolve

PLUGIN_DIST = Path(__file__).parent / "plugin_dist"
CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "order please"}]}


class Record:
    """A stage that writes down when it is entered and left."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def unary(self, call: Any, next: Any) -> Any:
        self.log.append(f"{self.name}>")
        answer = await next(call)
        self.log.append(f"<{self.name}")
        return answer

    async def stream(self, call: Any, next: Any) -> Any:
        self.log.append(f"{self.name}~")
        return await next(call)


def test_fold_runs_the_first_stage_outermost_and_the_terminal_last():
    log: list[str] = []

    async def terminal(call: Any) -> str:
        log.append("terminal")
        return "answer"

    async def opener(call: Any) -> Any:
        log.append("open")
        return iter(())

    unary, stream = fold([Record("a", log), Record("b", log)], terminal, opener)
    assert asyncio.run(unary(Call("r"))) == "answer"
    assert log == ["a>", "b>", "terminal", "<b", "<a"]
    log.clear()
    asyncio.run(stream(Call("r")))
    assert log == ["a~", "b~", "open"]


def test_the_order_is_auth_resolve_admit_and_admit_only_with_limits():
    with switchyard.Client() as client:
        stages = client._client.services.pipeline.stages  # type: ignore[union-attr]
        assert [type(s) for s in stages] == [Authenticate, Resolve]
    limited = {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}},
               "limits": {"rules": [{"scope": "model", "rpm": 100}]}}
    with switchyard.Client(limited) as client:
        stages = client._client.services.pipeline.stages  # type: ignore[union-attr]
        assert [type(s) for s in stages] == [Authenticate, Resolve, Admit]


def test_the_deadline_is_set_at_entry_and_bounds_the_whole_request():
    config = {"models": {"slow": {"deployments": [{"provider": "fake", "model": "timeout"}]}},
              "reliability": {"timeouts": {"total": 0.3}, "retry": {"attempts": 1}}}
    with switchyard.Client(config) as client:
        with pytest.raises(UpstreamTimeout):
            client.chat(model="slow", messages=[{"role": "user", "content": "hi"}])


def _plugin_config(after: str = "resolve") -> dict[str, Any]:
    return {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}},
            "pipeline": {"stages": [{"name": "stamp", "after": after, "options": {"value": "v1"}}]}}


def test_an_installed_plugin_stage_runs_in_process(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIST))  # the distribution is now installed on sys.path
    registry = StageRegistry()
    assert "stamp" in registry.names()  # found through its entry point, not named by the core

    async def run() -> tuple[dict[str, str], list[Any]]:
        async with switchyard.AsyncClient(_plugin_config(), stages=registry) as client:
            services = client.services
            assert services is not None
            call = Call("r1")
            request = switchyard.core.messages.validate_chat({**CHAT, "model": "m"})  # type: ignore[attr-defined]
            await services.pipeline.chat(request, call)
            return call.response_headers, [type(s).__name__ for s in services.pipeline.stages]

    headers, names = asyncio.run(run())
    assert headers["x-stamp"] == "v1;alias=m;models=m"  # it ran after resolve: it saw the group
    assert names == ["Authenticate", "Resolve", "Stamp"]


def test_a_plugin_stage_through_a_real_gateway_process(start_gateway_process):
    """``switchyard serve`` in its own process finds the plugin by its entry point."""
    pythonpath = os.pathsep.join(p for p in (str(PLUGIN_DIST), os.environ.get("PYTHONPATH", "")) if p)
    config = _plugin_config(after="admit")
    config["pipeline"]["stages"][0]["options"]["value"] = "served"
    gateway = start_gateway_process(config, env={"PYTHONPATH": pythonpath})
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="none", max_retries=0, timeout=20)
    plain = sdk.chat.completions.with_raw_response.create(model="m", messages=CHAT["messages"])
    assert plain.headers["x-stamp"] == "served;alias=m;models=m"
    assert plain.parse().choices[0].message.content == "order please"
    with sdk.chat.completions.with_streaming_response.create(model="m", messages=CHAT["messages"],
                                                             stream=True) as streamed:
        assert streamed.headers["x-stamp"] == "served;alias=m;models=m"
        assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices) == "order please"


def test_an_unknown_plugin_stage_is_refused_naming_it():
    with pytest.raises(UnknownPlugin) as refused:
        switchyard.Client(_plugin_config(), stages=StageRegistry(use_entry_points=False))
    assert "stamp" in refused.value.message and refused.value.param == "pipeline.stages"


def test_a_plugin_slot_must_be_a_builtin_stage():
    with pytest.raises(switchyard.ConfigError) as bad:
        switchyard.Client(_plugin_config(after="provider"))
    assert "pipeline.stages[0].after" in str(bad.value) or "pipeline.stages.0.after" in str(bad.value)


def test_bad_input_names_the_field_before_anything_runs():
    with switchyard.Client() as client, pytest.raises(InvalidRequest) as bad:
        client.chat(model="fake/echo", messages=[])
    assert bad.value.param == "messages"
