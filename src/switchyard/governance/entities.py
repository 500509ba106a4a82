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
thresholds, webhook; ``core.config.budgets``, the same type as a static key's
``budget:``); reserving against it and settling spend is the budget stage's
job, which reads them from ``Caller.budgets`` (``switchyard.budgets.BudgetLimit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from switchyard.budgets.limit import BudgetLimit
from switchyard.core.config.budgets import Budget, Period, duration_seconds

__all__ = ["CLASSES", "KINDS", "Budget", "BudgetLimit", "Entity", "Key", "Kind", "Period", "Team", "Tenant", "User",
           "duration_seconds"]

Kind = Literal["tenant", "team", "user", "key"]
KINDS: tuple[Kind, ...] = ("tenant", "team", "user", "key")


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
