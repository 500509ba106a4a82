"""Reasoning requests across wire formats: OpenAI's effort, Anthropic's and Gemini's budgets.

OpenAI asks for reasoning by effort (``reasoning_effort``); Anthropic (also Claude on
Bedrock) and Gemini by a budget of thinking tokens. One table maps the first to the
second, and back:

    reasoning_effort   thinking budget (tokens)
    none               0 (thinking off)
    minimal, low       1024 (Anthropic's smallest budget)
    medium             8192
    high               24576
    xhigh              32768

A budget goes back to the smallest effort whose budget covers it (``effort_for``):
up to 1024 is ``low``, up to 8192 ``medium``, above ``high``.

A request may also carry Anthropic's own ``thinking`` object (an extension in an
OpenAI body; the real thing in an Anthropic client's body, ``ChatRequest.native``):
its exact budget wins over the table. ``{"type": "adaptive"}`` lets the model
decide (Gemini's dynamic budget, -1).
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import InvalidRequest

#: ``reasoning_effort`` -> thinking budget in tokens (0: off).
BUDGETS: dict[str, int] = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
#: The smallest budget Anthropic accepts.
ANTHROPIC_MIN_BUDGET = 1024
#: A budget the model chooses itself (Anthropic's adaptive thinking, Gemini's -1).
DYNAMIC = -1
_ADAPTIVE_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


def effort_for(budget: int) -> str:
    """The OpenAI ``reasoning_effort`` for a thinking budget (0: ``none``, dynamic: ``medium``)."""
    if budget == 0:
        return "none"
    if budget == DYNAMIC:
        return "medium"
    return "low" if budget <= BUDGETS["low"] else "medium" if budget <= BUDGETS["medium"] else "high"


def _from_thinking(thinking: Any, output_config: Any, param: str) -> int | None:
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "disabled":
        return 0
    if kind == "adaptive":
        effort = (output_config or {}).get("effort") if isinstance(output_config, dict) else None
        return BUDGETS[_ADAPTIVE_EFFORTS[effort]] if effort in _ADAPTIVE_EFFORTS else DYNAMIC
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise InvalidRequest("thinking.budget_tokens must be a positive integer", param=f"{param}.budget_tokens",
                                 code="invalid_value")
        return budget
    raise InvalidRequest("thinking.type must be enabled, disabled or adaptive", param=f"{param}.type", code="invalid_value")


def requested_budget(body: dict[str, Any], native: tuple[str, dict[str, Any]] | None = None) -> int | None:
    """The thinking budget a request asks for: None when it asks nothing, 0 for off,
    ``DYNAMIC`` for the model's choice. Raises InvalidRequest naming a bad field."""
    if native is not None and native[0] == "anthropic" and "thinking" in native[1]:
        return _from_thinking(native[1]["thinking"], native[1].get("output_config"), "thinking")
    if body.get("thinking") is not None:
        return _from_thinking(body["thinking"], None, "thinking")
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in BUDGETS:
        raise InvalidRequest(f"reasoning_effort must be one of {', '.join(BUDGETS)}", param="reasoning_effort",
                             code="invalid_value")
    return BUDGETS[effort]


def anthropic_thinking(budget: int, max_tokens: int | None, default_max_tokens: int) -> tuple[dict[str, Any], int]:
    """``(thinking object, max_tokens)`` for a Claude model thinking on ``budget`` (> 0 or
    ``DYNAMIC``). Claude counts thinking inside ``max_tokens`` and wants it above the
    budget, as OpenAI counts reasoning inside ``max_completion_tokens``: without a limit
    the default is added to the budget; a limit at or below the budget shrinks the
    budget, down to Anthropic's smallest (1024) and no further."""
    if budget == DYNAMIC:
        return {"type": "adaptive"}, max_tokens or default_max_tokens
    if max_tokens is None:
        return {"type": "enabled", "budget_tokens": budget}, default_max_tokens + budget
    if max_tokens <= budget:
        budget = max_tokens - 1
        if budget < ANTHROPIC_MIN_BUDGET:
            raise InvalidRequest(
                f"Reasoning on Claude models needs max_completion_tokens above {ANTHROPIC_MIN_BUDGET} "
                f"(the smallest thinking budget); got {max_tokens}",
                param="max_completion_tokens", code="invalid_value")
    return {"type": "enabled", "budget_tokens": budget}, max_tokens
