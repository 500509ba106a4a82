"""Who may use which tool, and what the audit keeps of a call's arguments."""

from __future__ import annotations

from switchyard.auth import Caller
from switchyard.core.config.mcp import ToolAccess
from switchyard.mcp.access import ToolPolicy, join, split
from switchyard.mcp.redact import MAX_AUDITED_BYTES, audited_arguments

ACCESS = ToolAccess(default=["calc__*"], keys={"ci": ["fetch__get"]}, teams={"data": ["sql__*"]},
                    tags={"agents": ["weather__*"]})


def test_names_split_and_join():
    assert split("weather__forecast") == ("weather", "forecast")
    assert split("weather__get__all") == ("weather", "get__all")
    assert split("forecast") is None and split("__x") is None and split("x__") is None
    assert join("a", "b") == "a__b"


def test_a_callers_tools_are_the_union_of_what_applies():
    policy = ToolPolicy(ACCESS, open_gateway=False)
    agent = policy.patterns(Caller(name="ci", team="data", tags=frozenset({"agents"})))
    plain = policy.patterns(Caller(name="someone"))
    assert set(agent) == {"calc__*", "fetch__get", "sql__*", "weather__*"}
    assert policy.allows(agent, "weather__forecast") and policy.allows(agent, "sql__query")
    assert not policy.allows(plain, "sql__query") and policy.allows(plain, "calc__evaluate")
    assert not policy.allows(plain, "calc") and not policy.allows(plain, "xcalc__evaluate")


def test_the_master_key_and_an_open_gateway_may_use_everything():
    assert ToolPolicy(ACCESS, open_gateway=False).patterns(Caller(name="master", is_master=True)) is None
    assert ToolPolicy(ACCESS, open_gateway=True).patterns(Caller(name="anonymous")) is None
    assert ToolPolicy.allows(None, "anything__at_all")


def test_arguments_are_redacted_for_the_audit():
    kept = audited_arguments({"city": "Oslo", "api_key": "abc", "nested": {"password": "p", "list": [
        {"refresh_token": "t"}, "Bearer eyJhbGciOi.secret", "see sk-abcdefghijklmnop here"]}})
    assert kept == {"city": "Oslo", "api_key": "[redacted]", "nested": {"password": "[redacted]", "list": [
        {"refresh_token": "[redacted]"}, "Bearer [redacted]", "see [redacted] here"]}}
    assert audited_arguments(None) == {}


def test_large_arguments_are_summarised():
    kept = audited_arguments({"blob": "x" * (MAX_AUDITED_BYTES * 2), "name": "n"})
    assert kept["truncated"] is True and kept["bytes"] > MAX_AUDITED_BYTES and kept["fields"] == ["blob", "name"]
