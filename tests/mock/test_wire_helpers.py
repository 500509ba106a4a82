"""The helpers every mock wire format shares: echo text, tool triggers, placeholders."""

from __future__ import annotations

from switchyard.mock.wire import (
    MockSettings,
    answer_text,
    content_text,
    embedding_vector,
    last_user_text,
    pick_tool,
    placeholder_args,
)


def test_pick_tool_forced_none_named_required():
    names = ["alpha", "get_weather"]
    assert pick_tool(names, "please CALL get_weather") == "get_weather"
    assert pick_tool(names, "hello") is None
    assert pick_tool(names, "hello", mode="required") == "alpha"
    assert pick_tool(names, "call get_weather", mode="none") is None
    assert pick_tool(names, "call get_weather", forced="alpha") == "alpha"
    assert pick_tool(names, "call get_weather", forced="undeclared") == "get_weather"
    assert pick_tool([], "call x", mode="required") is None


def test_answer_text_echoes_and_cuts_unless_a_tool_is_called():
    settings = MockSettings()
    assert answer_text(settings, "") == ("Hello from the mock upstream.", False)
    assert answer_text(settings, "x" * 40, 2) == ("x" * 8, True)
    assert answer_text(settings, "x" * 40, 2, calls_tool=True) == ("x" * 40, False)
    assert answer_text(MockSettings(text="fixed"), "ignored") == ("fixed", False)


def test_last_user_text_and_content_text():
    messages = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "no"}]
    assert content_text(messages[0]["content"]) == "a b"
    assert last_user_text(messages) == "a b"
    assert last_user_text([{"role": "assistant", "content": "x"}]) == ""


def test_placeholders_by_type_and_deterministic_vectors():
    schema = {"properties": {"city": {"type": "string"}, "n": {"type": "integer"}, "odd": {}}}
    assert placeholder_args(schema) == {"city": "mock", "n": 1, "odd": None}
    assert placeholder_args({"properties": {"city": {"type": "STRING"}}}, any_case=True) == {"city": "mock"}
    assert placeholder_args(None) == {}
    vector = embedding_vector("same", 8)
    assert vector == embedding_vector("same", 8) != embedding_vector("other", 8)
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-9
