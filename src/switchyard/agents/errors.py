"""What an agent run can raise::

    AgentError                  a run cannot go on
    ├── LimitReached            a step, token, USD or time limit stopped the run (``.limit``, ``.result``)
    ├── OutputInvalid           the answer did not validate as the output type after the retries
    └── ToolDefinitionError     a function cannot be a tool (raised when the tool is built)

A tool's own failure is never raised: it goes back to the model as the tool's result.
Model calls raise the gateway's errors (``switchyard.SwitchyardError``) unchanged.
"""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    """A run cannot go on."""


class LimitReached(AgentError):
    """The run stopped at one of its limits; ``result`` holds what it did until then."""

    def __init__(self, limit: str, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.result = result


class OutputInvalid(AgentError):
    """The model's answer did not validate as the output type, after every retry."""


class ToolDefinitionError(AgentError, TypeError):
    """A function cannot be made a tool; the message names the parameter and why."""
