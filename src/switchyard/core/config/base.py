"""The base of every config model: strict (unknown keys are errors) and frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config section: unknown keys are rejected with their path; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
