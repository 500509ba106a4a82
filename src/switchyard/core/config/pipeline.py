"""Config of the request pipeline: third-party stages and where they run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from switchyard.core.config.base import Strict

#: The built-in stages a plugin stage can follow, in pipeline order (``pipeline/order.py``).
SLOTS = ("auth", "account", "audit", "spend", "resolve", "guard", "budget", "admit", "cache")


class StageConfig(Strict):
    """One plugin stage: registered by a package in the ``switchyard.stages`` entry-point group."""

    name: str = Field(min_length=1, description="The stage's entry-point name.")
    after: Literal["auth", "account", "audit", "spend", "resolve", "guard", "budget", "admit", "cache"] = Field(
        default="admit", description="The built-in stage it runs after (so, before routing by default).")
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the stage's factory.")


class PipelineConfig(Strict):
    """``pipeline:`` — extra stages, in the order listed within each slot."""

    stages: list[StageConfig] = Field(default_factory=list)
