"""Agents declared in YAML, run from the CLI and over HTTP (streamed too), each run one trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import switchyard
from switchyard.agents import Agent
from switchyard.cli.main import main
from switchyard.core.config import ConfigError, parse_config
from switchyard.server.runner import GatewayThread
from tests.agents import shop
from tests.agents.scripts import PRICE, call, script
from tests.observe.otlp_receiver import OtlpReceiver

MASTER = "sk-master-agents-0123456789"
KEY = "sk-user-agents-0123456789"


def agents_config(**extra: Any) -> dict[str, Any]:
    return {
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo", "price": PRICE}]}},
        "agents": {
            "tools": {"services": {"calc": {}},
                      "python": {"refund": "tests.agents.shop:refund", "lookup": "tests.agents.shop:lookup"}},
            "named": {
                "helper": {"model": "chat", "tools": ["calc__*"], "memory": "session",
                           "instructions": script([call("calc__evaluate", expression="6*7"), "It is 42."])},
                "support": {"model": "chat", "tools": ["lookup", "refund"], "approve": ["refund"],
                            "instructions": script([{"tools": [call("lookup", order="A1"),
                                                               call("refund", order="A1", amount=5)]}, "Done."])},
                "looper": {"model": "chat", "tools": ["calc__evaluate"], "limits": {"max_turns": 2},
                           "instructions": script([call("calc__evaluate", expression="1")] * 5)},
            },
        },
        **extra,
    }


def test_yaml_agents_are_checked_with_the_path_of_each_problem() -> None:
    base = agents_config()
    for change, reason in [
        ({"handoffs": ["nobody"]}, "named.helper.handoffs: no agent named 'nobody'"),
        ({"memory": "summary"}, "memory: summary needs the summary: section"),
        ({"model_settings": {"tools": []}}, "model_settings.tools: set by the agent"),
        ({"colour": "red"}, "colour"),
    ]:
        config = json.loads(json.dumps(base))
        config["agents"]["named"]["helper"].update(change)
        with pytest.raises(ConfigError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            parse_config(config)
    cyclic = json.loads(json.dumps(base))
    cyclic["agents"]["named"]["helper"]["handoffs"] = ["support"]
    cyclic["agents"]["named"]["support"]["agent_tools"] = ["helper"]
    with pytest.raises(ConfigError, match="cycle: helper -> support -> helper"):
        parse_config(cyclic)


def test_the_cli_runs_an_agent_once_and_as_a_chat(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(agents_config()))
    assert main(["agent", "run", "helper", "what is 6*7?", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "It is 42."
    assert '-> calc__evaluate({"expression":"6*7"})' in err and "<- calc__evaluate: 42" in err
    assert "[helper: 2 turns, 1 tool calls," in err and "trace " in err

    assert main(["agent", "run", "helper", "6*7?", "--config", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == "It is 42." and result["cost_usd"] > 0

    lines = iter(["what is 6*7?", "and again?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["agent", "run", "helper", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "helper> It is 42." in out and "helper> and again?" in out  # one session: the script went on

    assert main(["agent", "run", "looper", "go", "--config", str(path)]) == 1
    assert "the run made 2 model calls (max_turns)" in capsys.readouterr().err
    assert main(["agent", "run", "nobody", "go", "--config", str(path)]) == 2
    assert "no agent named 'nobody'; the agents are: helper, looper, support" in capsys.readouterr().err


def test_the_cli_asks_before_a_tool_that_needs_approval(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(agents_config()))
    shop.REFUNDS.clear()
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "n")
    assert main(["agent", "run", "support", "refund A1", "--config", str(path)]) == 0
    assert asked == ['\n  approve refund({"order":"A1","amount":5})? [y/N] ']
    assert shop.REFUNDS == [] and "<- refund (error): The call to refund was refused by a person" in \
        capsys.readouterr().err
    assert main(["agent", "run", "support", "refund A1", "--config", str(path), "--yes"]) == 0
    assert shop.REFUNDS == ["A1"] and len(asked) == 1


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayThread]:
    config = agents_config(auth={"master_key": MASTER, "keys": [{"key": KEY, "name": "ann-key"}]},
                           logging={"access_log": False})
    with GatewayThread(config) as gw:
        yield gw


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line[6:])


def test_over_http_a_run_a_stream_a_limit_and_bad_input(gateway: GatewayThread) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as http:
        answer = http.post("/v1/agents/helper", json={"input": "6*7?", "session": "s1"}).json()
        assert (answer["object"], answer["status"], answer["output"]) == ("agent.run", "completed", "It is 42.")
        assert answer["turns"] == 2 and answer["cost_usd"] > 0 and len(answer["trace_id"]) == 32

        with http.stream("POST", "/v1/agents/helper", json={"input": "6*7?", "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(sse(response))
        kinds = [e["type"] for e in events]
        assert kinds == ["usage", "tool_call", "tool_result", "text_delta", "text_delta", "text_delta", "usage",
                         "finished"]
        assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "It is 42."
        assert events[-1]["result"]["output"] == "It is 42."

        stopped = http.post("/v1/agents/looper", json={"input": "go"}).json()
        assert (stopped["status"], stopped["stopped_by"], stopped["turns"]) == ("stopped", "max_turns", 2)

        missing = http.post("/v1/agents/nobody", json={"input": "go"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "agent_not_found"
        for body, param in [({"input": ""}, "input"), ({"input": "x", "colour": 1}, "colour"),
                            ({"input": "x", "stream": "yes"}, "stream"), ({"input": 5}, "input")]:
            bad = http.post("/v1/agents/helper", json=body)
            assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    assert httpx.post(f"{gateway.url}/v1/agents/helper", json={"input": "x"}).status_code == 401


def test_over_http_a_refund_waits_for_a_persons_decision(gateway: GatewayThread) -> None:
    shop.REFUNDS.clear()
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as http, \
            http.stream("POST", "/v1/agents/support", json={"input": "refund A1", "stream": True}) as response:
        events = []
        for event in sse(response):
            events.append(event)
            if event["type"] == "approval_requested":
                assert shop.REFUNDS == []  # nothing refunded before the decision
                decided = http.post("/v1/agent_decisions", json={"agent": "support", "key": event["key"],
                                                                 "approved": True})
                assert decided.json() == {"object": "agent.decision", "key": event["key"], "approved": True}
    results = {e["name"]: e["output"] for e in events if e["type"] == "tool_result"}
    assert results == {"lookup": '{"order":"A1","status":"delivered"}', "refund": "refunded 5.00 EUR on A1"}
    assert shop.REFUNDS == ["A1"]


async def test_each_run_is_one_trace() -> None:
    with OtlpReceiver() as receiver:
        config = {"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
                  "tracing": {"endpoint": receiver.url, "export_interval": 0.05}}
        async with switchyard.AsyncClient(config) as client:
            agent = Agent("t", model="chat", client=client, tools=[shop.lookup],
                          instructions=script([call("lookup", order="A1"), "delivered"]))
            first = await agent.run("where is A1?")
            second = await agent.run("where is A1?")
        spans = receiver.wait_spans(8)
    servers = [s for s in spans if s.kind == 2]
    assert sorted(s.trace_id for s in servers) == sorted([first.trace_id] * 2 + [second.trace_id] * 2)
    assert first.trace_id != second.trace_id
