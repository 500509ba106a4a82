"""Flows written in YAML: structured control flow over model steps and registered steps.

::

    name: review
    limits: {model_calls: 20, usd: 0.50}
    register: {retrieve: "examples.flows.research_steps:retrieve"}   # optional
    steps:
      - {id: plan, model: fake/echo, prompt: "Plan: ${input.topic}"}
      - id: notes                                   # fan-out: a child run per item, a list back
        foreach: ${steps.plan.lines}
        concurrency: 4
        do:
          - {id: hit, step: retrieve, with: {query: "${item}"}, retries: 2, timeout: 10}
      - while: {not: {contains: ["${steps.critic.text}", "APPROVED"]}}
        max: 3
        do:
          - {id: draft, model: fake/echo, prompt: "Summarise ${steps.notes}"}
          - {id: critic, model: fake/echo, prompt: "Review: ${steps.draft.text}"}
      - if: {equals: ["${input.mode}", "careful"]}
        then: [{id: approval, wait: approve, timeout: 3600, on_timeout: {approved: false}}]
    output: ${steps.draft.text}

A step node is one of: ``model`` (``prompt`` or ``messages``, ``params``), ``step`` (a registered
step, ``with`` its arguments), ``set`` (a value, no journal), ``wait`` (an event, ``timeout``),
``foreach`` (``do`` per item as child runs, ``concurrency``), ``parallel`` (a list of branches,
each a list of nodes), ``while`` (``max`` iterations, required), ``if`` (``then``/``else``),
``switch`` (``cases``/``default``). ``${path}`` reads ``input``, ``steps.<id>`` (a model step's
``.text``, ``.lines``, ``.usage``, ``.usd``), ``item``/``index`` in a ``foreach``, ``vars``
(``with:`` of a ``foreach``/``parallel``) and ``iteration`` in a ``while``; a string that is only
``${path}`` is the value itself. A ``foreach``/``parallel`` body sees only its own steps and
what ``with:`` hands it — no state is shared between branches. Conditions: a ``${path}``
(truthy), or ``equals``, ``not_equals``, ``contains``, ``less``, ``greater`` (two operands),
``not``, ``all``, ``any``.

``validate`` reports every problem with its path (``steps[2].do[0].with``), like the gateway
config; the validated definition travels with the run, so any process can resume it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from switchyard.flows.errors import FlowDefinitionError
from switchyard.flows.limits import Limits

TEMPLATE = re.compile(r"\$\{([^}]*)\}")
PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_-]*|\d+))*$")
ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
ROOTS = ("input", "steps", "item", "index", "vars", "iteration")
KINDS = ("model", "step", "set", "wait", "foreach", "parallel", "while", "if", "switch")
COMPARISONS = ("equals", "not_equals", "contains", "less", "greater")
MAX_ITERATIONS, MAX_CONCURRENCY, MAX_NODES = 1000, 64, 2000

FIELDS: dict[str, dict[str, bool]] = {  # kind -> key -> required
    "model": {"id": False, "model": True, "prompt": False, "messages": False, "params": False, "retries": False,
              "timeout": False},
    "step": {"id": False, "step": True, "with": False, "retries": False, "timeout": False},
    "set": {"id": True, "set": True},
    "wait": {"id": False, "wait": True, "timeout": True, "on_timeout": False},
    "foreach": {"id": False, "foreach": True, "concurrency": False, "with": False, "do": True, "output": False},
    "parallel": {"id": False, "parallel": True, "with": False},
    "while": {"id": False, "while": True, "max": True, "do": True},
    "if": {"id": False, "if": True, "then": True, "else": False},
    "switch": {"id": False, "switch": True, "cases": True, "default": False},
}
TOP = {"name": True, "description": False, "limits": False, "register": False, "steps": True, "output": False,
       "input": False}


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML flow file."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowDefinitionError([("<file>", f"cannot read {source}: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise FlowDefinitionError([("<file>", f"not YAML: {exc}")]) from exc
    return validate(data)


def validate(data: Any) -> dict[str, Any]:
    """The definition, checked: ``FlowDefinitionError`` lists every problem with its path."""
    checker = _Checker()
    checker.top(data)
    if checker.problems:
        raise FlowDefinitionError(checker.problems)
    return data  # type: ignore[no-any-return]


def path_of(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.nodes = 0

    def add(self, where: tuple[Any, ...], reason: str) -> None:
        self.problems.append((path_of(where) or "<root>", reason))

    def keys(self, node: dict[str, Any], allowed: dict[str, bool], where: tuple[Any, ...]) -> None:
        for key in node:
            if key not in allowed:
                self.add((*where, key), "unknown key")
        for key, required in allowed.items():
            if required and key not in node:
                self.add((*where, key), "required")

    def top(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.add((), "a flow is a mapping with name and steps")
            return
        self.keys(data, TOP, ())
        if "name" in data and not (isinstance(data["name"], str) and ID.match(data["name"])):
            self.add(("name",), "letters, digits, _ and -, at most 64")
        if "limits" in data:
            try:
                Limits.of(data["limits"] if isinstance(data["limits"], dict) else {"": None})
            except FlowDefinitionError as exc:
                self.problems.extend(exc.problems)
        register = data.get("register", {})
        if not isinstance(register, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and ":" in v for k, v in register.items()):
            self.add(("register",), 'a mapping of step names to "module:function"')
        ids = self.body(data.get("steps"), ("steps",))
        self.templates(data.get("output"), ("output",), ids, ())

    def body(self, nodes: Any, where: tuple[Any, ...], loop: tuple[str, ...] = ()) -> set[str]:
        """Check a list of nodes (one scope): the ids it defines."""
        if not isinstance(nodes, list) or not nodes:
            self.add(where, "a non-empty list of steps")
            return set()
        ids: set[str] = set()
        self._collect(nodes, where, ids)
        for index, node in enumerate(nodes):
            self.node(node, (*where, index), ids, loop)
        return ids

    def _collect(self, nodes: list[Any], where: tuple[Any, ...], ids: set[str]) -> None:
        """Ids of a scope: its nodes', and those of its if/while/switch bodies (same scope)."""
        for index, node in enumerate(nodes):
            if not isinstance(node, dict):
                continue
            if isinstance(node.get("id"), str):
                ids.add(node["id"])  # a loop or branch may set the same id again: the last value wins
            for key in ("do", "then", "else", "default"):
                if isinstance(node.get(key), list) and "foreach" not in node:
                    self._collect(node[key], (*where, index, key), ids)
            if isinstance(node.get("cases"), dict):
                for case in node["cases"].values():
                    if isinstance(case, list):
                        self._collect(case, where, ids)

    def node(self, node: Any, where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self.add(where, f"more than {MAX_NODES} steps in one flow")
            return
        if not isinstance(node, dict):
            self.add(where, f"a step is a mapping with one of: {', '.join(KINDS)}")
            return
        kinds = [k for k in KINDS if k in node]
        if len(kinds) != 1:
            self.add(where, f"a step has exactly one of: {', '.join(KINDS)}" + (f" (found {', '.join(kinds)})"
                                                                                 if kinds else ""))
            return
        kind = kinds[0]
        self.keys(node, FIELDS[kind], where)
        if any(required and key not in node for key, required in FIELDS[kind].items()):
            return  # reported as required; the rest of the node is not checked
        if "id" in node and not (isinstance(node["id"], str) and ID.match(node["id"])):
            self.add((*where, "id"), "letters, digits, _ and -, at most 64, not starting with a digit")
        for key in ("retries",):
            if key in node and not (isinstance(node[key], int) and not isinstance(node[key], bool) and 0 <= node[key] < 20):
                self.add((*where, key), "an integer from 0 to 19")
        if "timeout" in node and not (isinstance(node["timeout"], (int, float)) and not isinstance(node["timeout"], bool)
                                      and node["timeout"] > 0):
            self.add((*where, "timeout"), "a positive number of seconds")
        getattr(self, f"kind_{kind}")(node, where, ids, loop)

    def kind_model(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if not isinstance(node["model"], str) or not node["model"]:
            self.add((*where, "model"), "a model alias")
        if ("prompt" in node) == ("messages" in node):
            self.add(where, "a model step has prompt or messages (one of them)")
        if "messages" in node:
            messages = node["messages"]
            if not isinstance(messages, list) or not messages:
                self.add((*where, "messages"), "a non-empty list of {role, content}")
            else:
                for i, message in enumerate(messages):
                    if not (isinstance(message, dict) and set(message) == {"role", "content"}
                            and message["role"] in ("system", "user", "assistant", "developer")):
                        self.add((*where, "messages", i), "{role: system|user|assistant|developer, content: ...}")
        if "params" in node and not isinstance(node["params"], dict):
            self.add((*where, "params"), "a mapping of chat parameters")
        for key in ("prompt", "messages", "params"):
            self.templates(node.get(key), (*where, key), ids, loop)

    def kind_step(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if not isinstance(node["step"], str) or not node["step"]:
            self.add((*where, "step"), "a registered step's name")
        self.arguments(node, where, ids, loop)

    def arguments(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if "with" in node:
            if not isinstance(node["with"], dict) or not all(isinstance(k, str) and k.isidentifier() for k in node["with"]):
                self.add((*where, "with"), "a mapping of argument names to values")
            self.templates(node["with"], (*where, "with"), ids, loop)

    def kind_set(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        self.templates(node["set"], (*where, "set"), ids, loop)

    def kind_wait(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if not isinstance(node["wait"], str) or not node["wait"] or len(node["wait"]) > 200:
            self.add((*where, "wait"), "an event name")

    def kind_foreach(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        self.templates(node["foreach"], (*where, "foreach"), ids, loop)
        concurrency = node.get("concurrency", 1)
        if not (isinstance(concurrency, int) and not isinstance(concurrency, bool) and 1 <= concurrency <= MAX_CONCURRENCY):
            self.add((*where, "concurrency"), f"an integer from 1 to {MAX_CONCURRENCY}")
        self.arguments(node, where, ids, loop)
        inner = self.body(node["do"], (*where, "do"), ("item", "index", "vars"))
        self.templates(node.get("output"), (*where, "output"), inner, ("item", "index", "vars"))

    def kind_parallel(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        branches = node["parallel"]
        if not isinstance(branches, list) or not branches or len(branches) > MAX_CONCURRENCY:
            self.add((*where, "parallel"), f"a list of 1 to {MAX_CONCURRENCY} branches, each a list of steps")
            return
        self.arguments(node, where, ids, loop)
        for i, branch in enumerate(branches):
            self.body(branch, (*where, "parallel", i), ("vars",))

    def kind_while(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        limit = node["max"]
        if not (isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_ITERATIONS):
            self.add((*where, "max"), f"an integer from 1 to {MAX_ITERATIONS}")
        inner = (*loop, "iteration")
        self.condition(node["while"], (*where, "while"), ids, inner)
        for index, child in enumerate(node["do"] if isinstance(node["do"], list) else []):
            self.node(child, (*where, "do", index), ids, inner)
        if not isinstance(node["do"], list) or not node["do"]:
            self.add((*where, "do"), "a non-empty list of steps")

    def kind_if(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        self.condition(node["if"], (*where, "if"), ids, loop)
        for key in ("then", "else"):
            if key in node:
                self.same_scope(node[key], (*where, key), ids, loop)

    def kind_switch(self, node: dict[str, Any], where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        self.templates(node["switch"], (*where, "switch"), ids, loop)
        cases = node["cases"]
        if not isinstance(cases, dict) or not cases:
            self.add((*where, "cases"), "a mapping of values to lists of steps")
        else:
            for value, steps in cases.items():
                self.same_scope(steps, (*where, "cases", str(value)), ids, loop)
        if "default" in node:
            self.same_scope(node["default"], (*where, "default"), ids, loop)

    def same_scope(self, nodes: Any, where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if not isinstance(nodes, list) or not nodes:
            self.add(where, "a non-empty list of steps")
            return
        for index, child in enumerate(nodes):
            self.node(child, (*where, index), ids, loop)

    def condition(self, cond: Any, where: tuple[Any, ...], ids: set[str], loop: tuple[str, ...]) -> None:
        if isinstance(cond, (str, bool)):
            self.templates(cond, where, ids, loop)
            return
        if not isinstance(cond, dict) or len(cond) != 1:
            self.add(where, f"a ${{path}}, or one of: {', '.join((*COMPARISONS, 'not', 'all', 'any'))}")
            return
        ((op, operand),) = cond.items()
        if op in COMPARISONS:
            if not isinstance(operand, list) or len(operand) != 2:
                self.add((*where, op), "two operands")
            self.templates(operand, (*where, op), ids, loop)
        elif op == "not":
            self.condition(operand, (*where, op), ids, loop)
        elif op in ("all", "any"):
            if not isinstance(operand, list) or not operand:
                self.add((*where, op), "a non-empty list of conditions")
                return
            for i, inner in enumerate(operand):
                self.condition(inner, (*where, op, i), ids, loop)
        else:
            self.add((*where, op), f"unknown condition (known: {', '.join((*COMPARISONS, 'not', 'all', 'any'))})")

    def templates(self, value: Any, where: tuple[Any, ...], ids: set[str], scope: tuple[str, ...]) -> None:
        """Every ``${path}`` in ``value`` reads something that exists in its scope."""
        if isinstance(value, dict):
            for key, inner in value.items():
                self.templates(inner, (*where, key), ids, scope)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                self.templates(inner, (*where, i), ids, scope)
        elif isinstance(value, str):
            for expression in TEMPLATE.findall(value):
                path = expression.strip()
                if not PATH.match(path):
                    self.add(where, f"${{{expression}}}: a dotted path like steps.plan.text")
                    continue
                root, *rest = path.split(".")
                if root not in ROOTS:
                    self.add(where, f"${{{path}}}: starts with one of {', '.join(ROOTS)}")
                elif root in ("item", "index", "vars", "iteration") and root not in scope:
                    self.add(where, f"${{{path}}}: {root} exists only inside "
                                    + ("a while" if root == "iteration" else "a foreach or parallel body"))
                elif root == "steps" and (not rest or rest[0] not in ids):
                    self.add(where, f"${{{path}}}: no step with that id here"
                                    + (f" (known: {', '.join(sorted(ids))})" if ids else ""))
