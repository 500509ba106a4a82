"""Helpers of the agent tests: a gateway config over the fake provider, and scripts."""

from __future__ import annotations

import json
from typing import Any

#: $1 per million prompt tokens, $2 per million completion tokens: every run has a cost.
PRICE = {"input": 1.0, "output": 2.0}


def config(**deployment: Any) -> dict[str, Any]:
    return {"models": {
        "m": {"deployments": [{"provider": "fake", "model": "echo", "price": PRICE, **deployment}]},
        "slow": {"deployments": [{"provider": "fake", "model": "slow", "price": PRICE,
                                  "options": {"first_delay": 0.5, "chunk_delay": 0.0}}]},
    }}


def script(turns: Any, before: str = "") -> str:
    """Instructions that script the fake model's answers (``providers/fake_script.py``)."""
    return f"{before}\nfake-script: {json.dumps(turns)}".strip()


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool, "arguments": arguments}
