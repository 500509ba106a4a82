"""The directory's entities — tenants, teams, users, virtual keys — and a budget's terms.

::

    Tenant (an organisation)
    └── Team                 models (an upper bound for its keys), rpm/tpm, budget, tier
        ├── User             role (owner, admin, team_admin, viewer, member), budget
        └── Key              hashed secret, models, routes, rpm/tpm, budget, expiry, tier,
                             metadata, tags; active or revoked; the old secret of a rotation
                             stays valid until ``previous_until``

A key belongs to a tenant, optionally to one of its teams and to one of its
users. Records are frozen: a change is a new record with a higher
``revision`` (the directory's counter), which is how every replica's
snapshot learns what changed since it last looked. Nothing is deleted: a
deleted tenant, team or user is a tombstone (``deleted``), a key is revoked.

``Budget`` holds a budget's terms only (amount, period, time zone, soft
thresholds, webhook); reserving against it and settling spend is the budget
stage's job, which reads them from ``Caller.budgets``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["tenant", "team", "user", "key"]
KINDS: tuple[Kind, ...] = ("tenant", "team", "user", "key")
Period = Literal["daily", "weekly", "monthly", "rolling"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
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
    if not seconds > 0:
        raise ValueError("must be positive")
    return seconds


class Budget(BaseModel):
    """A budget in US dollars over a period: ``amount`` is the hard stop.

    ``daily``, ``weekly`` (from Monday) and ``monthly`` periods are calendar
    periods in ``timezone``; ``rolling`` is the last ``window`` (``30d``, ``12h``…).
    Each of ``soft`` (fractions of ``amount``) alerts ``webhook`` once per period.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: float = Field(gt=0, description="US dollars per period; spending stops here.")
    period: Period = "monthly"
    window: float | None = Field(default=None, description="rolling only: the window, e.g. 30d, 12h (seconds).")
    timezone: str = Field(default="UTC", description="Where daily, weekly and monthly periods begin (IANA name).")
    soft: tuple[float, ...] = Field(default=(), description="Alert thresholds as fractions of amount, e.g. [0.5, 0.8].")
    webhook: str | None = Field(default=None, description="Where soft-threshold alerts are POSTed.")

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


def _json(value: Any) -> Any:
    if isinstance(value, Budget):
        return value.model_dump()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


class _Entity:
    """What every record shares: rendering for the admin API (never a secret's hash)."""

    __slots__ = ()
    kind: Kind
    _hidden: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """The record as the admin API shows it."""
        out = {f.name: _json(getattr(self, f.name)) for f in fields(self)  # type: ignore[arg-type]
               if f.name not in self._hidden}
        out["object"] = self.kind
        return out


@dataclass(frozen=True, slots=True)
class Tenant(_Entity):
    kind = "tenant"

    id: str
    name: str
    tier: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget: Budget | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Team(_Entity):
    kind = "team"

    id: str
    tenant_id: str
    name: str
    #: Aliases every key of the team is limited to (None: no bound).
    models: tuple[str, ...] | None = None
    tier: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget: Budget | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class User(_Entity):
    kind = "user"

    id: str
    tenant_id: str
    email: str
    team_id: str | None = None
    name: str | None = None
    role: str = "member"
    budget: Budget | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Key(_Entity):
    kind = "key"
    _hidden = ("digest", "previous_digest")

    id: str
    name: str
    #: The first characters of the secret (``sk-sy-AbC123``): how the key is shown after creation.
    prefix: str
    #: SHA-256 of the secret, hex; the secret itself is never stored.
    digest: str
    tenant_id: str
    team_id: str | None = None
    user_id: str | None = None
    models: tuple[str, ...] | None = None
    #: HTTP routes the key may call (``/v1/chat/completions``…); None: every client route.
    routes: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget: Budget | None = None
    expires_at: float | None = None
    tier: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    status: Literal["active", "revoked"] = "active"
    #: A rotation's old secret (its hash, its prefix) and until when it is still accepted.
    previous_digest: str | None = None
    previous_prefix: str | None = None
    previous_until: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    revoked_at: float | None = None
    revision: int = 0

    @property
    def deleted(self) -> bool:
        return False


Entity = Tenant | Team | User | Key
CLASSES: dict[str, type[Any]] = {"tenant": Tenant, "team": Team, "user": User, "key": Key}


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """One budget that applies to a caller (``Caller.budgets``): whose it is and its terms.

    ``scope`` is ``key``, ``user``, ``team`` or ``tenant``; ``subject`` the entity's id
    (stable across renames: the key to count spend under); ``name`` for messages.
    """

    scope: Kind
    subject: str
    name: str
    budget: Budget
