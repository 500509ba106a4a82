"""Structured output into a pydantic type, behind every provider adapter: the JSON-schema
mode where the model has one, the instructions and a bounded retry where it has not."""

from __future__ import annotations

from collections.abc import Iterator

import pydantic
import pytest

import switchyard
from switchyard.agents import Agent, OutputInvalid
from switchyard.mock.runner import MockUpstreamThread
from tests.agents.scripts import script
from tests.providers.conformance import ADAPTERS, KEY, mock_formats

ANSWER = '{"city": "Oslo", "temp_c": 3}'


class Weather(pydantic.BaseModel):
    city: str
    temp_c: int


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(api_key=KEY, text=ANSWER, stream_chunks=4, formats=mock_formats()) as mock:
        yield mock


#: Models without a JSON-schema mode (the gateway refuses ``response_format`` for them): asked in the prompt.
#: AI21's Jamba takes JSON mode only, Replicate's predictions take no response format.
PROMPT_MODE = {"no-schema-mode", "ai21", "replicate"}


async def test_every_adapter_gives_a_validated_output(upstream: MockUpstreamThread) -> None:
    models = {a.id: {"deployments": [a.deployment(upstream)]} for a in ADAPTERS}
    models["no-schema-mode"] = {"deployments": [dict(ADAPTERS[0].deployment(upstream),
                                                     capabilities={"json_schema": False})]}
    async with switchyard.AsyncClient({"models": models}) as client:
        for alias in models:
            upstream.reset()
            agent = Agent("w", model=alias, instructions="Report the weather.", output_type=Weather, client=client)
            result = await agent.run("Oslo?")
            if alias == "bedrock":  # structured output as a forced tool: the mock fills in the schema's placeholders
                assert isinstance(result.output, Weather)
            else:
                assert result.output == Weather(city="Oslo", temp_c=3), alias
            body = next(r.body for r in reversed(upstream.mock.requests) if r.body)  # Replicate's last is a poll
            assert b"temp_c" in body, alias  # the schema reached the upstream, in its own dialect
            if alias in PROMPT_MODE:
                assert agent.output is not None and agent.output.mode == "prompt", alias
                assert b"response_format" not in body and b"matches this JSON schema" in body
            else:
                assert agent.output is not None and agent.output.mode == "auto", alias
                assert b"matches this JSON schema" not in body, alias


async def test_an_invalid_answer_is_retried_a_bounded_number_of_times() -> None:
    config = {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    async with switchyard.AsyncClient(config) as client:
        fixed = Agent("fix", model="m", instructions=script(['{"city": 1}', "```json\n" + ANSWER + "\n```"]),
                      output_type=Weather, client=client)
        result = await fixed.run("Oslo?")
        assert result.output == Weather(city="Oslo", temp_c=3) and result.turns == 2
        told = result.messages[2]["content"]
        assert told.startswith("Your answer does not match the required JSON schema: city: Input should be a "
                               "valid string; temp_c: Field required")

        stubborn = Agent("no", model="m", instructions=script(["nope"] * 5), output_type=Weather,
                         output_retries=1, client=client)
        with pytest.raises(OutputInvalid, match="after 1 retries"):
            await stubborn.run("Oslo?")


def test_bad_output_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="output_mode"):
        Agent("a", model="m", output_type=Weather, output_mode="xml")
    with pytest.raises(ValueError, match="output_retries"):
        Agent("a", model="m", output_type=Weather, output_retries=-1)
