"""Rendering the Helm chart without ``helm``: the Go ``text/template`` subset the chart uses.

``helm`` is a Go binary that no package registry here ships, so ``render_chart`` plays its part
for ``helm template``: the chart's values (overridable), ``.Release``, ``.Chart``, ``.Files.Get``
and the templates (``define``/``include``, ``if``/``else if``/``else``, ``with``, ``range``
over lists and maps with ``$k, $v :=``, variables, pipelines, ``{{-``/``-}}`` trimming) with the
Sprig functions the chart calls. Anything else — an unknown function, keyword or token — is an
error here, never a silent blank: a template that needs more than this subset fails the test
until this file learns it the way Helm does it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|(?P<decl>:=)
    |(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[|(),=]))""", re.X)


class TemplateError(Exception):
    pass


# -- parsing --------------------------------------------------------------------------------------
@dataclass
class Node:
    kind: str  # text, action, if, with, range, define
    value: Any = None
    body: list[Node] = field(default_factory=list)
    branches: list[tuple[Any, list[Node]]] = field(default_factory=list)
    otherwise: list[Node] = field(default_factory=list)
    names: tuple[str, ...] = ()


def _pieces(source: str) -> list[tuple[str, str]]:
    """``[("text", ...), ("action", ...)]`` with ``{{-`` and ``-}}`` applied to the text around them."""
    out: list[tuple[str, str]] = []
    position, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[position:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        out.append(("text", text))
        body = match.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            out.append(("action", body))
        trim_next = bool(match.group(3))
        position = match.end()
    tail = source[position:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def parse(source: str) -> tuple[list[Node], dict[str, list[Node]]]:
    """The template's nodes and the ``define``d templates in it."""
    defines: dict[str, list[Node]] = {}
    pieces = _pieces(source)
    index = 0

    def block(stop: tuple[str, ...]) -> tuple[list[Node], str]:
        nonlocal index
        nodes: list[Node] = []
        while index < len(pieces):
            kind, text = pieces[index]
            index += 1
            if kind == "text":
                if text:
                    nodes.append(Node("text", text))
                continue
            word = text.split(None, 1)[0] if text else ""
            rest = text[len(word):].strip()
            if word in stop:
                return nodes, text
            if word == "if" or word == "with":
                node = Node(word)
                condition, (body, ended) = tokens(rest), block(("else", "end"))
                node.branches.append((condition, body))
                while ended.startswith("else if "):
                    condition = tokens(ended[len("else if "):])
                    body, ended = block(("else", "end"))
                    node.branches.append((condition, body))
                if ended == "else":
                    node.otherwise, ended = block(("end",))
                nodes.append(node)
            elif word == "range":
                names: tuple[str, ...] = ()
                if ":=" in rest:
                    declared, rest = rest.split(":=", 1)
                    names = tuple(n.strip() for n in declared.split(","))
                node = Node("range", tokens(rest), names=names)
                node.body, ended = block(("else", "end"))
                if ended == "else":
                    node.otherwise, _ = block(("end",))
                nodes.append(node)
            elif word == "define":
                name = json.loads(rest)
                defines[name], _ = block(("end",))
            elif word in ("end", "else"):
                raise TemplateError(f"unexpected {{{{ {text} }}}}")
            elif word in ("block", "template", "break", "continue"):
                raise TemplateError(f"{word} is not in the subset this renderer knows")
            else:
                nodes.append(Node("action", tokens(text)))
        if stop:
            raise TemplateError(f"missing {{{{ end }}}} (expected one of {stop})")
        return nodes, ""

    nodes, _ = block(())
    return nodes, defines


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise TemplateError(f"cannot read {text[position:]!r} in {{{{ {text} }}}}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


# -- evaluating -----------------------------------------------------------------------------------
def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (list, dict, tuple)) and not value)


def _to_yaml(value: Any) -> str:
    return "" if value is None else yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(width: int, text: str) -> str:
    return "\n".join(" " * width + line for line in str(text).split("\n"))


def _go_format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)


def _printf(pattern: str, *args: Any) -> str:
    values = iter(args)
    return re.sub(r"%[svd]", lambda _match: _go_format(next(values)), pattern)


def _required(message: str, value: Any) -> Any:
    if not _truthy(value):
        raise TemplateError(message)
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toYaml": _to_yaml, "toJson": lambda v: json.dumps(v, separators=(",", ":")),
    "nindent": lambda n, s: "\n" + _indent(n, s), "indent": _indent,
    "quote": lambda *v: " ".join(json.dumps(_go_format(x)) for x in v),
    "default": lambda d, v=None: v if _truthy(v) else d, "required": _required, "printf": _printf,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda v: not _truthy(v),
    "and": lambda *v: next((x for x in v if not _truthy(x)), v[-1]),
    "or": lambda *v: next((x for x in v if _truthy(x)), v[-1]),
    "trunc": lambda n, s: s[:n], "trimSuffix": lambda suffix, s: s[:-len(suffix)] if suffix and s.endswith(suffix) else s,
    "contains": lambda sub, s: sub in s, "lower": lambda s: s.lower(), "upper": lambda s: s.upper(),
    "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(), "empty": lambda v: not _truthy(v),
}


class Renderer:
    def __init__(self, defines: dict[str, list[Node]], root: dict[str, Any]) -> None:
        self.defines = defines
        self.root = root

    def run(self, nodes: list[Node], dot: Any, scope: dict[str, Any]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.value)
            elif node.kind == "action":
                result = self.pipeline(node.value, dot, scope)
                if result is not _ASSIGNED:
                    out.append(_go_format(result))
            elif node.kind in ("if", "with"):
                for condition, body in node.branches:
                    value = self.pipeline(condition, dot, scope)
                    if _truthy(value):
                        out.append(self.run(body, value if node.kind == "with" else dot, dict(scope)))
                        break
                else:
                    out.append(self.run(node.otherwise, dot, dict(scope)))
            elif node.kind == "range":
                items = self.pipeline(node.value, dot, scope)
                pairs = sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
                if not pairs:
                    out.append(self.run(node.otherwise, dot, dict(scope)))
                for key, value in pairs:
                    inner = dict(scope)
                    if len(node.names) == 2:
                        inner[node.names[0]], inner[node.names[1]] = key, value
                    elif len(node.names) == 1:
                        inner[node.names[0]] = value
                    out.append(self.run(node.body, value, inner))
        return "".join(out)

    def include(self, name: str, dot: Any) -> str:
        if name not in self.defines:
            raise TemplateError(f"no template named {name!r}")
        return self.run(self.defines[name], dot, {"$": self.root})

    def pipeline(self, toks: list[tuple[str, str]], dot: Any, scope: dict[str, Any]) -> Any:
        if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] in ("decl", "punct") and toks[1][1] in (":=", "="):
            scope[toks[0][1]] = self.pipeline(toks[2:], dot, scope)
            return _ASSIGNED
        commands: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for tok in toks:
            if tok == ("punct", "|") and depth == 0:
                commands.append([])
                continue
            depth += tok == ("punct", "(")
            depth -= tok == ("punct", ")")
            commands[-1].append(tok)
        value: Any = _NOTHING
        for command in commands:
            value = self.command(command, dot, scope, value)
        return value

    def command(self, toks: list[tuple[str, str]], dot: Any, scope: dict[str, Any], piped: Any) -> Any:
        operands = self.operands(toks, dot, scope)
        head, args = operands[0], operands[1:]
        if piped is not _NOTHING:
            args.append(piped)
        if isinstance(head, _Function):
            if head.name == "include":
                return self.include(*args)
            if head.name not in FUNCTIONS:
                raise TemplateError(f"function {head.name!r} is not in the subset this renderer knows")
            return FUNCTIONS[head.name](*args)
        if callable(head):
            return head(*args)
        if args:
            raise TemplateError(f"{toks!r}: a value takes no arguments")
        return head

    def operands(self, toks: list[tuple[str, str]], dot: Any, scope: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        i = 0
        while i < len(toks):
            kind, text = toks[i]
            if kind == "punct" and text == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += toks[j] == ("punct", "(")
                    depth -= toks[j] == ("punct", ")")
                    j += 1
                out.append(self.pipeline(toks[i + 1:j - 1], dot, scope))
                i = j
                continue
            if kind == "str":
                out.append(json.loads(text))
            elif kind == "raw":
                out.append(text[1:-1])
            elif kind == "num":
                out.append(float(text) if "." in text else int(text))
            elif kind == "ident":
                constants = {"true": True, "false": False, "nil": None}
                out.append(constants[text] if text in constants else _Function(text))
            elif kind == "field":
                out.append(_walk(dot, text.split(".")[1:]))
            elif kind == "var":
                name, *path = text.split(".")
                if name not in scope:
                    raise TemplateError(f"undefined variable {name}")
                out.append(_walk(scope[name], path))
            else:
                raise TemplateError(f"unexpected {text!r}")
            i += 1
        return out


@dataclass(frozen=True)
class _Function:
    name: str


_NOTHING, _ASSIGNED = object(), object()


def _walk(value: Any, path: list[str]) -> Any:
    for name in path:
        if not name:
            continue
        if isinstance(value, dict):
            value = value.get(name)
        elif value is None:
            return None
        else:
            value = getattr(value, name)
    return value


# -- the chart ------------------------------------------------------------------------------------
class Files:
    def __init__(self, chart: Path) -> None:
        self.chart = chart

    def Get(self, name: str) -> str:  # noqa: N802 - Helm's name
        return (self.chart / name).read_text()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render_chart(chart: Path, values: dict[str, Any] | None = None, release: str = "gw",
                 namespace: str = "default") -> dict[str, str]:
    """``helm template``: each template file's rendered text, by file name (partials left out)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    merged = _merge(yaml.safe_load((chart / "values.yaml").read_text()), values or {})
    root = {"Values": merged, "Files": Files(chart),
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
            "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion")}}
    templates = sorted((chart / "templates").glob("*"))
    defines: dict[str, list[Node]] = {}
    parsed = {}
    for path in templates:
        nodes, found = parse(path.read_text())
        defines.update(found)
        parsed[path.name] = nodes
    renderer = Renderer(defines, root)
    return {name: renderer.run(nodes, root, {"$": root}) for name, nodes in parsed.items()
            if not name.startswith("_") and name.endswith((".yaml", ".yml"))}


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object the rendered files hold (empty documents skipped)."""
    out = []
    for name, text in rendered.items():
        for document in yaml.safe_load_all(text):
            if document:
                assert isinstance(document, dict), f"{name}: a document that is not a mapping"
                out.append(document)
    return out
