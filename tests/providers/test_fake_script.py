"""The fake provider's scripts: which tools it calls, with which arguments, turn by turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

import switchyard
from switchyard.core.errors import InvalidRequest
from switchyard.providers.fake_script import ScriptError, Turn, scripted_turn

CONFIG = {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("a", "b")]


def script(turns: Any) -> dict[str, str]:
    return {"role": "system", "content": "You help.\nfake-script: " + json.dumps(turns)}


def test_the_turn_counts_the_answers_since_the_first_user_message() -> None:
    turns = [{"tool": "a", "arguments": {"x": 1}}, "done"]
    convo: list[dict[str, Any]] = [script(turns), {"role": "user", "content": "go"}]
    assert scripted_turn(convo) == Turn(calls=(("a", '{"x":1}'),))
    convo += [{"role": "assistant", "content": None}, {"role": "tool", "tool_call_id": "1", "content": "42"}]
    assert scripted_turn(convo) == Turn(text="done")
    convo += [{"role": "assistant", "content": "done"}]
    assert scripted_turn(convo) == Turn(text="done")  # played out: echoes the last message


def test_a_phrase_picks_its_list_and_counts_from_its_own_message() -> None:
    turns = {"refund": [{"tool": "b", "arguments": "{not json"}, "refunded"], "*": ["hello"]}
    convo: list[dict[str, Any]] = [script(turns), {"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "hello"},
                                   {"role": "user", "content": "Please REFUND me"}]
    assert scripted_turn(convo) == Turn(calls=(("b", "{not json"),))  # arguments as a string: sent as is
    convo.append({"role": "assistant", "content": None})
    assert scripted_turn(convo) == Turn(text="refunded")


def test_the_user_message_script_wins_and_parallel_calls_keep_their_order() -> None:
    convo = [script(["system's"]), {"role": "user", "content": 'fake-script: [{"tools": [{"tool": "a"}, '
                                                             '{"tool": "b", "arguments": {"y": 2}}], "text": "both"}]'}]
    assert scripted_turn(convo) == Turn(text="both", calls=(("a", "{}"), ("b", '{"y":2}')))


@pytest.mark.parametrize(("turns", "reason"), [
    ({"*": "x"}, "fake-script.*: must be a list"),
    ([7], "fake-script[0]: a turn is a string or an object"),
    ([{"tools": [{"arguments": {}}]}], "fake-script[0].tools[0].tool"),
    ([{}], "fake-script[0]: needs text or a tool call"),
    (3, "must be a list of turns or an object"),
])
def test_a_bad_script_names_the_place(turns: Any, reason: str) -> None:
    with pytest.raises(ScriptError, match=reason.replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")):
        scripted_turn([script(turns), {"role": "user", "content": "go"}])


async def test_through_the_gateway_unary_and_streamed_and_a_bad_script_is_a_400() -> None:
    turns = [{"tools": [{"tool": "a", "arguments": {"q": "one"}}, {"tool": "b", "arguments": {"q": "two"}}]}]
    messages = [script(turns), {"role": "user", "content": "go"}]
    async with switchyard.AsyncClient(CONFIG) as client:
        answer = await client.chat(model="m", messages=messages, tools=TOOLS)
        calls = answer.body["choices"][0]["message"]["tool_calls"]
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == \
            [("a", {"q": "one"}), ("b", {"q": "two"})]
        assert answer.body["choices"][0]["finish_reason"] == "tool_calls"
        streamed: dict[int, str] = {}
        async for chunk in client.stream(model="m", messages=messages, tools=TOOLS):
            for choice in chunk.json().get("choices") or ():
                for part in (choice.get("delta") or {}).get("tool_calls") or ():
                    streamed[part["index"]] = streamed.get(part["index"], "") + part["function"]["arguments"]
        assert {i: json.loads(v) for i, v in streamed.items()} == {0: {"q": "one"}, 1: {"q": "two"}}
        with pytest.raises(InvalidRequest, match="fake-script: not valid JSON") as caught:
            await client.chat(model="m", messages=[script([]) | {"content": "fake-script: [oops"},
                                                   {"role": "user", "content": "go"}])
        assert caught.value.param == "messages"
