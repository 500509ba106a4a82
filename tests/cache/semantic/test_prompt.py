"""What the semantic cache compares, and what must be equal for two requests to share an answer."""

from __future__ import annotations

from typing import Any

from switchyard.cache.semantic.prompt import Prompt, Skip, prompt_of

SYSTEM = {"role": "system", "content": "You answer in one sentence."}


def body(text: Any = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    messages = extra.pop("messages", None) or [SYSTEM, {"role": "user", "content": text}]
    return {"model": "chat", "messages": messages, "temperature": 0, **extra}


def of(b: dict[str, Any], **options: Any) -> Prompt | Skip:
    settings: dict[str, Any] = {"partition": "tenant:acme", "alias": "chat", "embedder": "m", "max_turns": 3,
                                "max_chars": 2000, **options}
    return prompt_of(b, **settings)


def context(b: dict[str, Any], **options: Any) -> str:
    prompt = of(b, **options)
    assert isinstance(prompt, Prompt), prompt
    return prompt.context


def test_the_last_user_turn_is_what_is_compared() -> None:
    prompt = of(body("  What is the capital of France?  "))
    assert isinstance(prompt, Prompt) and prompt.text == "What is the capital of France?"
    parts = of(body([{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]))
    assert isinstance(parts, Prompt) and parts.text == "first\nsecond"


def test_the_wording_of_the_last_turn_is_not_in_the_context() -> None:
    assert context(body("What is the capital of France?")) == context(body("Which city is France's capital?"))


def test_partition_alias_and_embedder_are_in_the_context() -> None:
    base = context(body())
    assert context(body(), partition="tenant:other") != base
    assert context(body(), alias="other") != base
    assert context(body(), embedder="another-model") != base
    assert context(body(), variant="stream") != base


def test_system_prompt_tools_parameters_and_earlier_turns_must_be_equal() -> None:
    base = context(body())
    other_system = body(messages=[{"role": "system", "content": "You answer in French."},
                                  {"role": "user", "content": "What is the capital of France?"}])
    assert context(other_system) != base
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    assert context(body(tools=[tool])) != base
    assert context(body(temperature=0.7)) != base
    assert context(body(max_tokens=5)) != base
    assert context(body(response_format={"type": "json_object"})) != base
    earlier = body(messages=[SYSTEM, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                             {"role": "user", "content": "What is the capital of France?"}])
    assert context(earlier) != base


def test_what_changes_nothing_in_the_answer_is_left_out() -> None:
    base = context(body())
    assert context(body(temperature=0.0)) == base  # 0 and 0.0 are one number
    assert context(body(stream=True, stream_options={"include_usage": True}, user="u1",
                        metadata={"trace": "x"}, model="another-name")) == base


def test_numbers_in_the_last_turn_must_be_equal_unless_turned_off() -> None:
    assert context(body("What is 2 plus 2?")) != context(body("What is 2 plus 3?"))
    assert (context(body("What is 2 plus 2?"), exact_numbers=False)
            == context(body("What is 2 plus 3?"), exact_numbers=False))


def test_requests_the_cache_leaves_alone() -> None:
    assert of(body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])) \
        == Skip("not_user_turn")
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(7)]
    assert of(body(messages=turns)) == Skip("multi_turn")  # four user turns, three allowed
    assert isinstance(of(body(messages=turns), max_turns=4), Prompt)
    image = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
    assert of(body(image)) == Skip("non_text")
    assert of(body("x" * 2001)) == Skip("too_long")
    assert of(body("   ")) == Skip("empty")
