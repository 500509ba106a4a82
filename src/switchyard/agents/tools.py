"""Tools: what an agent can call. ``@tool`` makes one of a typed Python function.

The function's signature and docstring give the tool's JSON schema (through a pydantic
model of its parameters): each parameter's type and default, its description from the
docstring's ``Args:`` section, the tool's description from the docstring's first
paragraph. The model's arguments are validated against that model before the function
runs; arguments that do not validate go back to the model as the tool's result, naming
each field and the reason, so it can try again. A parameter annotated ``RunContext``
is not shown to the model: the run passes its context there.

A function may be sync (run in a worker thread) or async. What it returns is sent to the
model as text: a string as is, anything else as JSON. Whatever it raises goes back as
the result too (``is_error``), never through the run.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, get_type_hints, runtime_checkable

import pydantic
import pydantic_core

from switchyard.agents.errors import ToolDefinitionError

#: Tool names as the providers accept them.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a tool may know of the run calling it."""

    run_id: str
    agent: str
    session: str | None = None
    user: str | None = None
    tenant: str | None = None
    #: Whatever the caller handed to ``run(..., deps=...)``: a database pool, a user record.
    deps: Any = None
    #: The id of the tool call being served.
    tool_call_id: str | None = None
    #: The run itself (``agents.run.Run``), for tools that run agents.
    run: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A tool's answer: the text the model reads, and whether it is an error."""

    text: str
    is_error: bool = False


@runtime_checkable
class Tool(Protocol):
    """Anything an agent can call: a name, a description, a JSON schema, ``invoke``."""

    name: str
    description: str
    parameters: dict[str, Any]
    #: Whether a person must approve each call before it runs.
    needs_approval: bool

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        """Run with the model's ``arguments`` (JSON text); never raises for the tool's own failures."""
        ...


def definition(tool: Tool) -> dict[str, Any]:
    """The tool as OpenAI's ``tools`` entry."""
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters}}


@dataclass(slots=True)
class FunctionTool:
    """A typed Python function as a tool (made by ``tool``)."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    model: type[pydantic.BaseModel]
    context_parameter: str | None = None
    needs_approval: bool = False
    is_async: bool = field(default=False)

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        try:
            values = self.model.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            return ToolOutput(invalid_arguments(self.name, exc), is_error=True)
        kwargs = {name: getattr(values, name) for name in type(values).model_fields}
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = context
        try:
            if self.is_async:
                result = await self.function(**kwargs)
            else:
                result = await asyncio.to_thread(self.function, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's to read
            return ToolOutput(f"Error: {type(exc).__name__}: {exc}", is_error=True)
        return ToolOutput(as_text(result))


def as_text(result: Any) -> str:
    """What the model reads of a tool's result: a string as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    return pydantic_core.to_json(result, fallback=str).decode()


def invalid_arguments(name: str, exc: pydantic.ValidationError) -> str:
    """The model's retry hint: each field that failed, and why."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    return f"Invalid arguments for tool {name}: " + "; ".join(problems) + ". Call it again with valid arguments."


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None,
         needs_approval: bool = False) -> Any:
    """Make a tool of a typed function; as ``@tool`` or ``@tool(name=..., needs_approval=True)``."""
    def make(fn: Callable[..., Any]) -> FunctionTool:
        return function_tool(fn, name=name, description=description, needs_approval=needs_approval)
    return make(function) if function is not None else make


def function_tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                  needs_approval: bool = False) -> FunctionTool:
    """The ``FunctionTool`` of ``fn``; ``ToolDefinitionError`` names what cannot be a tool."""
    tool_name = str(name or getattr(fn, "__name__", ""))
    if not NAME.match(tool_name):
        raise ToolDefinitionError(f"tool name {tool_name!r}: 1-64 letters, digits, '_' or '-'")
    summary, described = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - a bad annotation: say which function
        raise ToolDefinitionError(f"tool {tool_name}: cannot read its annotations ({exc})") from None
    fields: dict[str, Any] = {}
    context_parameter = None
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name}: parameter {parameter.name}: *args and **kwargs "
                                      "cannot be described to a model")
        annotation = hints.get(parameter.name)
        if annotation is RunContext:
            context_parameter = parameter.name
            continue
        if annotation is None:
            raise ToolDefinitionError(f"tool {tool_name}: parameter {parameter.name} has no type annotation")
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, pydantic.Field(default, description=described.get(parameter.name)))
    try:
        model = pydantic.create_model(f"{tool_name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"),
                                      **fields)
        schema = model.model_json_schema()
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {tool_name}: its parameters have no JSON schema ({exc})") from None
    schema.pop("title", None)
    return FunctionTool(name=tool_name, description=str(description or summary or tool_name), parameters=schema,
                        function=fn, model=model, context_parameter=context_parameter,
                        needs_approval=needs_approval, is_async=inspect.iscoroutinefunction(fn))


_ARG = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTIONS = ("args:", "arguments:", "parameters:", "returns:", "raises:", "yields:", "examples:", "example:")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each parameter's description from a Google-style ``Args:`` section."""
    lines = doc.splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or line.strip().lower() in _SECTIONS:
            break
        summary.append(line.strip())
    described: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in lines:
        stripped = line.strip().lower()
        if stripped in _SECTIONS:
            in_args = stripped in ("args:", "arguments:", "parameters:")
            current = None
            continue
        if not in_args or not line.strip():
            continue
        match = _ARG.match(line)
        indent = len(line) - len(line.lstrip())
        if match and (current is None or indent <= _indent_of(lines, current)):
            current = match.group(1)
            described[current] = match.group(2).strip()
        elif current is not None:
            described[current] = (described[current] + " " + line.strip()).strip()
    return " ".join(summary), described


def _indent_of(lines: list[str], name: str) -> int:
    for line in lines:
        match = _ARG.match(line)
        if match and match.group(1) == name:
            return len(line) - len(line.lstrip())
    return 0


