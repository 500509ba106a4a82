"""Structured output: the final answer validated into a type (a pydantic model, a dataclass...).

Where the model behind the alias has JSON-schema mode (``response_format`` with a
``json_schema``; the gateway's adapters translate it for every provider that has one —
Anthropic's structured output, Gemini's ``responseSchema``, Ollama's ``format``...), the
schema goes with every call. Where it has not, the gateway refuses that request before
any upstream call (``CapabilityMissing`` naming ``response_format``); the run then asks
for the JSON in the instructions instead, for the rest of the agent's life. Either
way the answer is validated, and an answer that does not validate is sent back to the
model with the reasons, at most ``retries`` times (``OutputInvalid`` after that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


@dataclass(slots=True)
class OutputSpec:
    """The output type, its JSON schema, and whether the schema mode is still worth trying."""

    type: Any
    adapter: pydantic.TypeAdapter[Any]
    schema: dict[str, Any]
    name: str
    retries: int = 2
    #: ``auto``: JSON-schema mode until the gateway says the model has none; ``prompt``: never.
    mode: str = "auto"

    @classmethod
    def of(cls, output_type: Any, *, retries: int = 2, mode: str = "auto") -> OutputSpec:
        if mode not in ("auto", "json_schema", "prompt"):
            raise ValueError(f"output_mode: must be auto, json_schema or prompt, not {mode!r}")
        if not isinstance(retries, int) or retries < 0 or retries > 10:
            raise ValueError(f"output_retries: must be a whole number from 0 to 10, not {retries!r}")
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output_type)
        schema = adapter.json_schema()
        name = re.sub(r"[^A-Za-z0-9_-]", "_", getattr(output_type, "__name__", "output"))[:64] or "output"
        if schema.get("type") != "object" and mode == "auto":
            mode = "prompt"  # JSON-schema modes want an object at the root
        return cls(output_type, adapter, schema, name, retries, mode)

    @property
    def use_schema_mode(self) -> bool:
        return self.mode in ("auto", "json_schema")

    def response_format(self) -> dict[str, Any]:
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema, "strict": False}}

    def instructions(self) -> str:
        """What the instructions say when the model has no JSON-schema mode."""
        return ("Answer with one JSON value only — no prose, no code fence — that matches this JSON schema:\n"
                + orjson.dumps(self.schema).decode())

    def validate(self, text: str) -> Any:
        """The answer as the output type; ``pydantic.ValidationError`` when it is not one."""
        match = _FENCE.match(text)
        return self.adapter.validate_json((match.group(1) if match else text).strip() or "null")


def retry_message(exc: pydantic.ValidationError) -> str:
    """What the model is told when its answer does not validate."""
    problems = []
    for error in exc.errors(include_url=False)[:20]:
        where = ".".join(str(part) for part in error["loc"]) or "the answer"
        problems.append(f"{where}: {error['msg']}")
    return ("Your answer does not match the required JSON schema: " + "; ".join(problems)
            + ". Answer again with only the corrected JSON.")
