"""Config for money: a budget's terms, and the ``budgets:`` and ``spend:`` sections.

A ``Budget`` is only the terms (amount, period, time zone, soft thresholds,
webhook); whose it is comes with the caller (``switchyard.budgets.BudgetLimit``
on ``Caller.budgets``), and enforcing it is the budget stage's job. A static
key of the config carries one as ``auth.keys[].budget``::

    auth:
      keys:
        - key: ${TEAM_A_KEY}
          name: team-a
          budget: {amount: 50, period: monthly, timezone: Europe/Paris, soft: [0.5, 0.8],
                   webhook: https://hooks.example.com/budget}
    budgets:
      counters: shared          # shared: redis: when set, else this process; durable: storage.url
    spend:
      records: true             # one record per request in the durable store
      overflow: block
"""

from __future__ import annotations

import math
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from switchyard.core.config.base import Strict

Period = Literal["daily", "weekly", "monthly", "rolling"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$", re.ASCII)
#: What ``duration_seconds`` accepts, as JSON Schema (the admin API's document reads it).
DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^[ \t\n\r\f\v]*[0-9]+(\.[0-9]+)?[ \t\n\r\f\v]*[smhdw]?[ \t\n\r\f\v]*$"}],
    "description": "Seconds, or a duration such as 30d, 12h, 90m, 45s, 2w.",
}
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def duration_seconds(value: Any) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30d, 12h, 90m or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError("must be a duration such as 30d, 12h, 90m or a number of seconds")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not 0 < seconds < math.inf:
        raise ValueError("must be positive" if not seconds > 0 else "must be finite")
    return seconds


class Budget(Strict):
    """A budget in US dollars over a period: ``amount`` is the hard stop.

    ``daily``, ``weekly`` (from Monday) and ``monthly`` periods are calendar
    periods in ``timezone``; ``rolling`` is the last ``window`` (``30d``, ``12h``…).
    Crossing each of ``soft`` (fractions of ``amount``) is logged and POSTed to
    ``webhook`` once per period.
    """

    amount: float = Field(gt=0, description="US dollars per period; spending stops here.")
    period: Period = "monthly"
    window: Annotated[float, WithJsonSchema(DURATION_SCHEMA)] | None = Field(
        default=None, description="rolling only: the window, e.g. 30d, 12h (seconds).")
    timezone: str = Field(default="UTC", description="Where daily, weekly and monthly periods begin (IANA name).",
                          examples=["UTC", "Europe/Paris"])
    soft: tuple[float, ...] = Field(
        default=(), description="Alert thresholds as fractions of amount, e.g. [0.5, 0.8].",
        json_schema_extra={"items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}})
    webhook: str | None = Field(default=None, description="Where soft-threshold alerts are POSTed.",
                                json_schema_extra={"anyOf": [{"type": "string", "pattern": "^https?://"},
                                                             {"type": "null"}]})

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float | None:
        return None if value is None else duration_seconds(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC or Europe/Berlin)") from None
        return value

    @field_validator("soft")
    @classmethod
    def _soft(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v < 1 for v in value):
            raise ValueError("thresholds are fractions of amount, each above 0 and below 1")
        return tuple(sorted(set(value)))

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _window_for_rolling(self) -> Budget:
        if self.period == "rolling" and self.window is None:
            raise ValueError("a rolling budget needs window (e.g. 30d)")
        if self.period != "rolling" and self.window is not None:
            raise ValueError(f"window is for rolling budgets; a {self.period} budget is a calendar period")
        return self


class BudgetsConfig(Strict):
    """How budgets are counted (the budgets themselves come with the callers' keys)."""

    counters: Literal["shared", "durable"] = Field(
        default="shared", description="shared: the redis: store when set, else this process (gone on restart); "
                                      "durable: storage.url's counters (SQLite, PostgreSQL)")
    on_backend_error: Literal["open", "closed"] = Field(
        default="closed", description="While the counters cannot be reached: closed refuses budgeted requests "
                                      "(503), open lets them through uncounted.")
    estimator: Literal["rough", "tokenizer"] = Field(
        default="rough", description="How the prompt is counted for the estimate: rough (four characters a token, "
                                     "about a microsecond) or tokenizer (tiktoken, tens of microseconds).")
    default_max_tokens: int = Field(default=1024, ge=1,
                                    description="The completion estimate of a request that sets no max_tokens.")
    alert_timeout: float = Field(default=5.0, gt=0, description="Seconds a webhook may take to answer an alert.")


class SpendConfig(Strict):
    """Spend records: one per request, written in batches to the durable store (``storage.url``)."""

    records: bool = Field(default=False, description="Write a spend record of every request.")
    buffer: int = Field(default=10_000, ge=1, le=10_000_000, description="Records held while the writer catches up.")
    batch: int = Field(default=500, ge=1, le=100_000, description="Records per INSERT at most.")
    overflow: Literal["block", "drop"] = Field(
        default="block", description="A full buffer: block (requests wait; nothing lost) or drop (counted).")
