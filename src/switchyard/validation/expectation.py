"""What an answer must be, read from its request, and the first way an answer is not.

A chat request asks for JSON with ``response_format`` (``json_object``: any JSON
object; ``json_schema``: JSON matching ``json_schema.schema``) and for tool calls
with ``tools`` (a call names one of the request's function tools, its
``arguments`` a JSON object matching the tool's ``parameters``). An answer's
choices are checked each: one with tool calls is checked as tool calls, one with
content as JSON when JSON was asked for. A refusal (``message.refusal``, OpenAI's
structured-output refusal) is an answer, not an invalid one.

Schemas are compiled with jsonschema-rs (imported on the first schema), kept in
a bounded table by their canonical bytes: a client sending the same schema on
every request compiles it once. A schema that does not compile is not held
against the answer (its syntax still is): the upstream judges the request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from switchyard.core.config.validation import AliasValidation

#: Compiled schemas kept at most (least recently used dropped first).
MAX_SCHEMAS = 256
#: A schema that did not compile: the answer's syntax is checked, not its shape.
_UNCOMPILED = object()


class Schemas:
    """Compiled validators by schema, bounded (see the module docstring)."""

    def __init__(self, limit: int = MAX_SCHEMAS) -> None:
        self.limit = limit
        self._compiled: OrderedDict[bytes, Any] = OrderedDict()

    def compile(self, schema: Any) -> Any:
        """A jsonschema-rs validator for ``schema``, or None when it does not compile."""
        if not isinstance(schema, dict):
            return None
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        found = self._compiled.get(key)
        if found is None:
            import jsonschema_rs

            try:
                found = jsonschema_rs.validator_for(schema)
            except Exception:  # a schema the library refuses: syntax only
                found = _UNCOMPILED
            self._compiled[key] = found
            if len(self._compiled) > self.limit:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return None if found is _UNCOMPILED else found


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an answer is invalid: ``kind`` (``json``, ``schema``, ``tool``, ``too_large``) and a sentence."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one request's answers must be."""

    #: ``json_object`` or ``json_schema`` when the content must be JSON; else None.
    json: str | None
    #: The compiled schema of ``json_schema`` (None: syntax only).
    schema: Any
    schema_name: str | None
    #: Function tool name -> its compiled parameters (None: any object); None when tools are not checked.
    tools: dict[str, Any] | None

    def problem(self, body: dict[str, Any]) -> Problem | None:
        """The first thing wrong with the answer ``body`` (OpenAI ``chat.completion``), or None."""
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            return Problem("json", "the answer has no choices") if self.json is not None else None
        for n, choice in enumerate(choices):
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict) or message.get("refusal"):
                continue
            where = f"choice {choice.get('index', n)}"
            calls = message.get("tool_calls")
            if calls:
                if self.tools is not None:
                    found = self._tool_problem(calls, where)
                    if found is not None:
                        return found
                continue
            if self.json is not None:
                found = self._json_problem(message.get("content"), where, choice.get("finish_reason"))
                if found is not None:
                    return found
        return None

    def _json_problem(self, content: Any, where: str, finish: Any) -> Problem | None:
        if not isinstance(content, str):
            return Problem("json", f"{where}: no content where {self.json} was asked for")
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            cut = " (cut short: finish_reason length)" if finish == "length" else ""
            return Problem("json", f"{where}: the content is not JSON{cut}: {exc}")
        if self.json == "json_object" and not isinstance(value, dict):
            return Problem("json", f"{where}: the content is JSON but not an object")
        if self.schema is not None:
            error = _first_error(self.schema, value)
            if error is not None:
                return Problem("schema", f"{where}: the content does not match the json_schema "
                                         f"`{self.schema_name}`: {error}")
        return None

    def _tool_problem(self, calls: Any, where: str) -> Problem | None:
        tools = self.tools or {}
        for n, call in enumerate(calls if isinstance(calls, list) else ()):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue  # a custom tool's call: free-form input
            name = function.get("name")
            label = f"{where}: tool call {n} (`{name}`)"
            if name not in tools:
                return Problem("tool", f"{label}: the request has no function tool of that name")
            try:
                arguments = orjson.loads(function.get("arguments") or "")
            except orjson.JSONDecodeError as exc:
                return Problem("tool", f"{label}: the arguments are not JSON: {exc}")
            if not isinstance(arguments, dict):
                return Problem("tool", f"{label}: the arguments are not a JSON object")
            validator = tools[name]
            if validator is not None:
                error = _first_error(validator, arguments)
                if error is not None:
                    return Problem("schema", f"{label}: the arguments do not match its parameters: {error}")
        return None


def expectation_of(body: dict[str, Any], settings: AliasValidation, schemas: Schemas) -> Expectation | None:
    """What the answers to the chat request ``body`` must be under ``settings``; None when nothing is checked."""
    json_kind = schema = schema_name = None
    tools: dict[str, Any] | None = None
    if settings.json_check:
        fmt = body.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind in ("json_object", "json_schema"):
            json_kind = kind
            if kind == "json_schema" and settings.schema_check:
                spec = fmt.get("json_schema") or {}  # type: ignore[union-attr]
                schema_name = spec.get("name")
                schema = schemas.compile(spec.get("schema"))
    if settings.tools and body.get("tools"):
        tools = {}
        for tool in body["tools"]:
            function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            if isinstance(function, dict) and function.get("name"):
                parameters = function.get("parameters")
                tools[function["name"]] = schemas.compile(parameters) if settings.schema_check else None
        if not tools:
            tools = None
    if json_kind is None and tools is None:
        return None
    return Expectation(json_kind, schema, schema_name, tools)


def _first_error(validator: Any, value: Any) -> str | None:
    """The first way ``value`` misses the schema, with where (a JSON pointer), or None."""
    for error in validator.iter_errors(value):
        path = "/" + "/".join(str(p) for p in error.instance_path)
        return f"at {path}: {error.message}"[:300]
    return None
