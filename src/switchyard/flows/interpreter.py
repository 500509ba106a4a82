"""Running a YAML flow (``flows.spec``) on the engine: each node becomes ``Run`` calls, so a
YAML flow is as durable as a Python one. ``foreach`` and ``parallel`` bodies are child runs
(``{"node": ...}`` references carrying their own steps), each with only ``item``/``index``/
``vars`` — no state shared between branches.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switchyard.flows.errors import EventTimeout, FlowError
from switchyard.flows.run import ModelAnswer, Run
from switchyard.flows.spec import TEMPLATE, validate
from switchyard.flows.steps import FlowSteps

if TYPE_CHECKING:
    from switchyard.flows.engine import FlowEngine


@dataclass(slots=True)
class Scope:
    """What ``${path}`` reads in one body."""

    input: Any = None
    steps: dict[str, Any] = field(default_factory=dict)
    item: Any = None
    index: int | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    iteration: int | None = None

    def read(self, path: str) -> Any:
        root, *rest = path.split(".")
        value: Any = getattr(self, root)
        if root == "steps" and rest and rest[0] not in value:
            return None  # a step not run yet (a loop's first test, a branch not taken) reads as nothing
        for part in rest:
            value = _member(value, part, path)
        return value


def _member(value: Any, part: str, path: str) -> Any:
    if isinstance(value, ModelAnswer):
        value = answer_view(value)
    if isinstance(value, dict):
        if part not in value:
            raise FlowError(f"${{{path}}}: no {part!r} (has: {', '.join(map(str, value))})")
        return value[part]
    if isinstance(value, (list, tuple)) and part.isdigit():
        if int(part) >= len(value):
            raise FlowError(f"${{{path}}}: index {part} out of range ({len(value)} items)")
        return value[int(part)]
    if value is None:
        return None  # a step not run yet (a loop's first test): reads as nothing
    raise FlowError(f"${{{path}}}: {type(value).__name__} has no {part!r}")


def answer_view(answer: ModelAnswer) -> dict[str, Any]:
    """A model step as YAML sees it."""
    from switchyard.flows.steps import lines

    return {"text": answer.text, "lines": lines(answer.text), "usage": answer.usage, "usd": answer.usd,
            "response": answer.response}


def render(value: Any, scope: Scope) -> Any:
    """``value`` with every ``${path}`` read from ``scope``; a string that is one ``${path}`` is the value."""
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = TEMPLATE.fullmatch(value.strip())
    if whole:
        return _plain(scope.read(whole.group(1).strip()))
    return TEMPLATE.sub(lambda m: _text(scope.read(m.group(1).strip())), value)


def _plain(value: Any) -> Any:
    return answer_view(value)["text"] if isinstance(value, ModelAnswer) else value


def _text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return "" if value is None else str(value)


def test(cond: Any, scope: Scope) -> bool:
    if isinstance(cond, bool):
        return cond
    if isinstance(cond, str):
        return bool(_plain(render(cond, scope)))
    ((op, operand),) = cond.items()
    if op == "not":
        return not test(operand, scope)
    if op == "all":
        return all(test(c, scope) for c in operand)
    if op == "any":
        return any(test(c, scope) for c in operand)
    left, right = (_plain(render(v, scope)) for v in operand)
    if op == "equals":
        return bool(left == right)
    if op == "not_equals":
        return bool(left != right)
    if op == "contains":
        return left is not None and str(right) in (left if isinstance(left, (list, dict)) else str(left))
    try:
        return bool(left < right) if op == "less" else bool(left > right)
    except TypeError as exc:
        raise FlowError(f"{op}: cannot compare {type(left).__name__} with {type(right).__name__}") from exc


class Interpreter:
    """Runs one body of a YAML flow with a ``Run``."""

    def __init__(self, engine: FlowEngine, register: dict[str, str]) -> None:
        self.engine = engine
        self.register = register
        self.steps: FlowSteps = engine.steps

    def step_function(self, name: str) -> Callable[..., Any]:
        target = self.register.get(name)
        if target is not None:
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return self.steps.get(name)  # type: ignore[no-any-return]

    async def body(self, run: Run, nodes: list[dict[str, Any]], scope: Scope, prefix: str) -> Any:
        last: Any = None
        for index, node in enumerate(nodes):
            last = await self.node(run, node, scope, prefix, index)
        return last

    async def node(self, run: Run, node: dict[str, Any], scope: Scope, prefix: str, index: int) -> Any:
        name = prefix + str(node.get("id") or f"{_kind(node)}-{index}")
        value = await getattr(self, f"kind_{_kind(node)}")(run, node, scope, name)
        if "id" in node:
            scope.steps[node["id"]] = value
        return value

    async def kind_model(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        messages = render(node["messages"], scope) if "messages" in node else [
            {"role": "user", "content": _text(render(node["prompt"], scope))}]
        return await run.model(name, model=node["model"], messages=messages, retries=node.get("retries", 0),
                               timeout=node.get("timeout"), **render(node.get("params", {}), scope))

    async def kind_step(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        fn = self.step_function(node["step"])
        return await run.step(name, fn, retries=node.get("retries", 0), timeout=node.get("timeout"),
                              **render(node.get("with", {}), scope))

    async def kind_set(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        return render(node["set"], scope)

    async def kind_wait(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        try:
            return await run.wait_for(node["wait"], float(node["timeout"]))
        except EventTimeout:
            if "on_timeout" in node:
                return render(node["on_timeout"], scope)
            raise

    async def kind_foreach(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        items = render(node["foreach"], scope)
        if not isinstance(items, list):
            raise FlowError(f"{name}: foreach needs a list, got {type(items).__name__}")
        ref = self._ref(node["do"], node.get("output"))
        shared = render(node.get("with", {}), scope)
        work = [(ref, {"input": scope.input, "item": item, "index": i, "vars": shared}) for i, item in enumerate(items)]
        return await run.children(work, node.get("concurrency", 1), label=name)

    async def kind_parallel(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        shared = render(node.get("with", {}), scope)
        work = [(self._ref(branch, None), {"input": scope.input, "vars": shared}) for branch in node["parallel"]]
        return await run.children(work, None, label=name)

    async def kind_while(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        last: Any = None
        for iteration in range(int(node["max"])):
            scope.iteration = iteration
            if not test(node["while"], scope):
                break
            last = await self.body(run, node["do"], scope, f"{name}#{iteration}.")
        scope.iteration = None
        return last

    async def kind_if(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        branch = node["then"] if test(node["if"], scope) else node.get("else")
        return None if not branch else await self.body(run, branch, scope, f"{name}.")

    async def kind_switch(self, run: Run, node: dict[str, Any], scope: Scope, name: str) -> Any:
        value = _plain(render(node["switch"], scope))
        branch = node["cases"].get(str(value), node.get("default"))
        return None if not branch else await self.body(run, branch, scope, f"{name}.")

    def _ref(self, nodes: list[dict[str, Any]], output: Any) -> dict[str, Any]:
        return {"node": {"do": nodes, "output": output, "register": self.register}}


def _kind(node: dict[str, Any]) -> str:
    from switchyard.flows.spec import KINDS

    return next(k for k in KINDS if k in node)


def yaml_target(engine: FlowEngine, ref: dict[str, Any]) -> Callable[[Run, Any], Awaitable[Any]]:
    """The flow function of a ``{"yaml": definition}`` run or a ``{"node": body}`` branch."""
    if "yaml" in ref:
        definition = validate(ref["yaml"])

        async def whole(run: Run, input: Any) -> Any:
            interpreter = Interpreter(engine, definition.get("register", {}))
            scope = Scope(input=input if input is not None else definition.get("input"))
            last = await interpreter.body(run, definition["steps"], scope, "")
            return _plain(render(definition["output"], scope)) if "output" in definition else _plain(last)

        return whole
    body = ref["node"]

    async def branch(run: Run, context: dict[str, Any]) -> Any:
        interpreter = Interpreter(engine, body.get("register", {}))
        scope = Scope(input=context.get("input"), item=context.get("item"), index=context.get("index"),
                      vars=context.get("vars") or {})
        last = await interpreter.body(run, body["do"], scope, "")
        return _plain(render(body["output"], scope)) if body.get("output") is not None else _plain(last)

    return branch
