"""YAML flows: every problem reported with its path; the structured control flow runs on the
engine (foreach with a concurrency limit, parallel, while with a maximum, if, switch, waits)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from switchyard.flows import FlowEngine
from switchyard.flows.errors import FlowDefinitionError
from switchyard.flows.spec import validate

FLOW = """
name: demo
limits: {model_calls: 30}
input: {topic: rivers}
steps:
  - {id: plan, model: fake/echo, prompt: "one\\ntwo\\nthree"}
  - id: notes
    foreach: ${steps.plan.lines}
    concurrency: 2
    with: {topic: "${input.topic}"}
    do:
      - {id: hit, step: echo, with: {q: "${vars.topic}: ${item}"}}
      - {id: words, step: count_words, with: {text: "${steps.hit}"}}
    output: {hit: "${steps.hit}", n: "${index}", words: "${steps.words}"}
  - id: both
    parallel:
      - [{id: a, model: fake/echo, prompt: "left"}]
      - [{id: b, step: echo, with: {x: right}}]
  - while: {not: {contains: ["${steps.critic.text}", "round 2"]}}
    max: 5
    do:
      - {id: critic, model: fake/echo, prompt: "round ${iteration}"}
  - if: {greater: ["${steps.notes.0.words}", 1]}
    then: [{id: verdict, set: long}]
    else: [{id: verdict, set: short}]
  - switch: ${input.topic}
    cases:
      rivers: [{id: chosen, set: "the rivers case"}]
    default: [{id: chosen, set: other}]
output: {notes: "${steps.notes}", both: "${steps.both}", critic: "${steps.critic.text}",
         verdict: "${steps.verdict}", chosen: "${steps.chosen}"}
"""


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(FlowDefinitionError) as caught:
        validate(yaml.safe_load(text))
    return caught.value.problems


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems("""
name: bad flow
limits: {usd: -1}
steps:
  - {id: plan, model: fake/echo}
  - {id: x, step: echo, with: {q: "${steps.nope}"}, retries: 99, colour: red}
  - foreach: ${steps.plan.lines}
    concurrency: 0
    do:
      - {step: echo, with: {v: "${steps.plan}"}}
  - while: ${steps.plan}
    do: [{set: 1, id: y}]
  - {model: m, prompt: p, step: s}
  - {wait: approve}
  - if: {similar: [a, b]}
    then: [{id: z, set: "${item}"}]
output: ${input..x}
""")
    assert ("name", "letters, digits, _ and -, at most 64") in found
    assert ("limits.usd", "must be a positive number") in found
    assert ("steps[0]", "a model step has prompt or messages (one of them)") in found
    assert ("steps[1].colour", "unknown key") in found
    assert ("steps[1].retries", "an integer from 0 to 19") in found
    assert any(p == "steps[1].with.q" and r.startswith("${steps.nope}: no step with that id here") for p, r in found)
    assert ("steps[2].concurrency", "an integer from 1 to 64") in found
    assert any(p == "steps[2].do[0].with.v" and "no step with that id" in r for p, r in found)  # a body's own scope
    assert ("steps[3].max", "required") in found
    assert any(p == "steps[4]" and "exactly one of" in r for p, r in found)
    assert ("steps[5].timeout", "required") in found
    assert any(p == "steps[6].if.similar" and r.startswith("unknown condition") for p, r in found)
    assert any(p == "steps[6].then[0].set" and "only inside a foreach" in r for p, r in found)
    assert any(p == "output" and "dotted path" in r for p, r in found)


def test_shapes_that_are_not_flows() -> None:
    assert problems("[1, 2]") == [("<root>", "a flow is a mapping with name and steps")]
    assert ("steps", "a non-empty list of steps") in problems("name: x\nsteps: []")
    assert ("name", "required") in problems("steps: [{id: a, set: 1}]")


@pytest.mark.asyncio
async def test_the_control_flow_runs_on_the_engine(tmp_path: Path) -> None:
    definition = validate(yaml.safe_load(FLOW))
    async with FlowEngine(f"sqlite:///{tmp_path / 'f.db'}") as engine:
        outcome = await engine.run({"yaml": definition}, limits=definition["limits"])
        status = await engine.status(outcome.run_id)
    assert outcome.status == "done", outcome.reason
    assert outcome.output == {
        "notes": [{"hit": "rivers: one", "n": 0, "words": 2}, {"hit": "rivers: two", "n": 1, "words": 2},
                  {"hit": "rivers: three", "n": 2, "words": 2}],
        "both": ["left", "right"], "critic": "round 2", "verdict": "long", "chosen": "the rivers case"}
    assert outcome.totals["model_calls"] == 1 + 1 + 3
    assert status.flow == "demo"


@pytest.mark.asyncio
async def test_a_while_stops_at_its_maximum_and_a_bad_read_fails_the_run_naming_it(tmp_path: Path) -> None:
    forever = validate(yaml.safe_load("""
name: forever
steps:
  - while: true
    max: 3
    do: [{id: tick, step: echo, with: {n: "${iteration}"}}]
output: ${steps.tick}
"""))
    broken = validate(yaml.safe_load("""
name: broken
steps:
  - {id: a, set: {x: 1}}
  - {id: b, step: echo, with: {v: "${steps.a.y}"}}
"""))
    async with FlowEngine(f"sqlite:///{tmp_path / 'f.db'}") as engine:
        assert (await engine.run({"yaml": forever})).output == 2
        failed = await engine.run({"yaml": broken})
    assert failed.status == "failed"
    assert "${steps.a.y}: no 'y' (has: x)" in (failed.reason or "")
