"""The guard over MCP tool calls: arguments redacted or refused before any server sees them,
results redacted before the caller (a model) reads them, and the audit keeping neither value."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from switchyard.auth import Caller
from switchyard.guard.detection import Detection
from switchyard.guard.policy import Policy
from switchyard.guard.scanner import Scanner
from switchyard.guard.tools import MAX_DEPTH, TOO_DEEP, CheckedCall, ToolGuarded
from switchyard.server.runner import GatewayThread
from tests.mcp_gateway.conftest import MASTER, READER, gateway_config, mcp_client
from tests.mcp_gateway.upstream import UpstreamThread

OPEN = "sk-open-mcp-0123456789abc"  # guard: off
AWS = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def guarded(upstream: UpstreamThread) -> Iterator[GatewayThread]:
    config = gateway_config(upstream.url, guard="tools")
    config["auth"]["keys"].append({"key": OPEN, "name": "open", "guard": "off"})
    config["mcp"]["access"]["keys"]["open"] = ["weather__*"]
    config["guard"] = {"policies": {"tools": {"action": "mask", "actions": {"aws_access_key": "block"}}}}
    config["audit"] = {"requests": False}
    with GatewayThread(config) as gw:
        yield gw


def _audit(gateway: GatewayThread, actor: str) -> list[dict]:
    answer = httpx2.get(f"{gateway.url}/admin/audit", params={"kind": "tool", "limit": 1000, "actor": actor},
                        headers={"authorization": f"Bearer {MASTER}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def test_personal_data_in_arguments_never_reaches_the_server(guarded):
    async with mcp_client(guarded.url, READER) as client:
        answer = await client.call_tool("weather__forecast", {"city": "jane.doe@example.com"})
    # the server echoes what it was sent: the placeholder, never the address
    assert answer.content[0].text == "sunny in [REDACTED_EMAIL]"
    entry = next(e for e in _audit(guarded, "reader") if e["target"] == "weather__forecast")
    assert entry["detail"]["arguments"] == {"city": "[REDACTED_EMAIL]"}
    assert entry["detail"]["guard"] == {"policy": "tools", "detections": {"email:mask": 1}}
    assert "jane.doe" not in json.dumps(_audit(guarded, "reader"))


async def test_a_blocked_category_refuses_the_call_naming_where_never_the_value(guarded):
    async with mcp_client(guarded.url, READER) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("weather__forecast", {"city": f"Oslo {AWS}"})
    assert refused.value.code == -32006 and refused.value.data == {"reason": "guard_blocked"}
    assert "params.arguments.city" in refused.value.message and "aws access key" in refused.value.message
    assert AWS not in refused.value.message
    entries = [e for e in _audit(guarded, "reader") if e["detail"]["outcome"] == "guard_blocked"]
    assert entries and entries[-1]["detail"]["arguments"] == {"city": "Oslo [REDACTED_AWS_ACCESS_KEY]"}
    assert AWS not in json.dumps(_audit(guarded, "reader"))


async def test_a_results_personal_data_is_redacted_in_text_and_structured_content(guarded):
    async with mcp_client(guarded.url, MASTER) as client:
        answer = await client.call_tool("weather__contact", {"team": "ops"})
    text = answer.content[0].text
    assert text == "write to [REDACTED_EMAIL] or call [REDACTED_PHONE]"
    assert "example.com" not in json.dumps(answer.structured_content)
    assert answer.structured_content == {"result": text}


async def test_a_key_with_guard_off_is_not_guarded(guarded):
    async with mcp_client(guarded.url, OPEN) as client:
        answer = await client.call_tool("weather__forecast", {"city": "jane.doe@example.com"})
        contact = await client.call_tool("weather__contact", {"team": "ops"})
    assert answer.content[0].text == "sunny in jane.doe@example.com"
    assert "ops-lead@example.com" in contact.content[0].text


def test_a_policy_the_config_lacks_is_named_at_startup(upstream):
    from switchyard.core.config import ConfigError, parse_config

    config = gateway_config(upstream.url, guard="nope")
    config["guard"] = {"policies": {"tools": {"action": "redact"}}}
    with pytest.raises(ConfigError) as problem:
        parse_config(config)
    assert "mcp.guard" in str(problem.value) and "nope" in str(problem.value)


# -- the walk over arguments, without a server ----------------------------------------------------
def _policy(*, fail_open: bool = False, failing: bool = False) -> Policy:
    class Broken:
        async def detect(self, texts):
            raise RuntimeError("model not loaded")

    plugins = [("people", Broken())] if failing else []
    return Policy("p", Detection(Scanner(["email", "aws_access_key"]), plugins), "redact", {}, fail_open)


async def test_keys_and_nested_values_are_checked_and_depth_is_bounded():
    deep: dict = {"leaf": "fine"}
    for _ in range(MAX_DEPTH + 3):
        deep = {"d": deep}
    checked = CheckedCall(_policy())
    out = await checked.check_arguments({"to": ["a@example.com", {"bob@example.com": 3}], "n": 7, "deep": deep})
    assert out is not None
    assert out["to"] == ["[REDACTED_EMAIL]", {"[REDACTED_EMAIL]": 3}] and out["n"] == 7
    inner = out["deep"]
    while isinstance(inner, dict):
        inner = inner["d"]
    assert inner == TOO_DEEP  # what lies deeper than the walk leaves unchecked, never as it came
    assert checked.found == {"email:redact": 2}


async def test_a_failing_detector_refuses_or_lets_through_as_the_policy_says():
    with pytest.raises(ToolGuarded) as refused:
        await CheckedCall(_policy(failing=True)).check_arguments({"q": "a@example.com"})
    assert refused.value.reason == "guard_unavailable" and "people" in refused.value.message
    let_through = CheckedCall(_policy(failing=True, fail_open=True))
    assert await let_through.check_arguments({"q": "a@example.com"}) == {"q": "[REDACTED_EMAIL]"}
    assert let_through.found["detector_failed:passed"] == 1


def test_an_unknown_policy_on_a_caller_refuses():
    from switchyard.core.config import parse_config
    from switchyard.guard.policy import Policies
    from switchyard.guard.tools import ToolGuard

    config = parse_config({"guard": {"policies": {"tools": {"action": "redact"}}},
                          "models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    guard = ToolGuard(Policies(config), None)
    with pytest.raises(ToolGuarded) as refused:
        guard.check(Caller(name="x", guard="missing"))
    assert refused.value.reason == "guard_unavailable"
    assert guard.check(Caller(name="y")) is None  # no default, no mcp.guard: no policy
