"""The admin API's request bodies, validated: unknown fields and bad values are 400s naming the field.

Create bodies say what a new record holds; update bodies (``PATCH``) hold only
what changes — a field left out is kept, a field sent as ``null`` is cleared.
Owners are named by id or by name (a tenant or team name, a user's email).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from switchyard.core.config.governance import Role
from switchyard.core.errors import InvalidRequest
from switchyard.governance.entities import Budget, duration_seconds

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                        strip_whitespace=True)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")]
def _guard_entries(metadata: dict[str, str]) -> dict[str, str]:
    """The entries the gateway itself reads: ``guard`` (a policy name) and ``regions`` (comma-separated)."""
    guard = metadata.get("guard")
    if guard is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", guard):
        raise ValueError("`guard` names a guard policy: letters, digits, _ . - only")
    regions = metadata.get("regions")
    if regions is not None:
        names = [r.strip() for r in regions.split(",")]
        if not all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", r) for r in names):
            raise ValueError("`regions` is a comma-separated list of region names (letters, digits, _ . -)")
    return metadata


Metadata = Annotated[dict[Short, Annotated[str, StringConstraints(max_length=512)]], Field(max_length=64),
                     AfterValidator(_guard_entries)]
Limit = Annotated[int, Field(ge=1)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (for a PATCH), as values (a budget stays a ``Budget``)."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def values(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every field, as values."""
        return {name: getattr(self, name) for name in type(self).model_fields if name not in exclude}


def _routes(value: list[str] | None) -> list[str] | None:
    if value is not None:
        for route in value:
            if not route.startswith("/") or len(route) > 200:
                raise ValueError(f"{route!r} is not a path such as /v1/chat/completions")
    return value


def _expiry(value: Any) -> float | None:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 time such as 2027-01-31T00:00:00Z") from None
    raise ValueError("must be epoch seconds or an ISO 8601 time")


class _Limits(Payload):
    tier: Short | None = None
    rpm: Limit | None = None
    tpm: Limit | None = None
    budget: Budget | None = None
    metadata: Metadata = Field(default_factory=dict)


class TenantCreate(_Limits):
    name: Name


class TenantUpdate(_Limits):
    name: Name | None = None


class TeamCreate(_Limits):
    name: Name
    tenant: Name
    models: list[Name] | None = Field(default=None, description="Aliases every key of the team is limited to.")


class TeamUpdate(_Limits):
    name: Name | None = None
    models: list[Name] | None = None


class UserCreate(Payload):
    email: Email
    tenant: Name | None = Field(default=None, description="The user's tenant; implied by team.")
    team: Name | None = None
    name: Name | None = None
    role: Role = "member"
    budget: Budget | None = None
    metadata: Metadata = Field(default_factory=dict)


class UserUpdate(Payload):
    email: Email | None = None
    team: Name | None = None
    name: Name | None = None
    role: Role | None = None
    budget: Budget | None = None
    metadata: Metadata | None = None


class _KeyFields(Payload):
    name: Name | None = None
    user: Name | None = Field(default=None, description="The user the key is issued to (id or email).")
    models: list[Name] | None = Field(default=None, description="Aliases the key may use; all when unset.")
    routes: list[str] | None = Field(default=None, description="Paths the key may call; all client routes when unset.")
    rpm: Limit | None = None
    tpm: Limit | None = None
    budget: Budget | None = None
    expires_at: float | None = Field(default=None, description="Epoch seconds or an ISO 8601 time.")
    expires_in: float | None = Field(default=None, description="Or a duration from now: 30d, 12h, 90m.")
    tier: Short | None = None
    metadata: Metadata | None = None
    tags: Annotated[list[Short], Field(max_length=64)] | None = None

    _routes = field_validator("routes")(_routes)

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expires_at(cls, value: Any) -> float | None:
        return _expiry(value)

    @field_validator("expires_in", mode="before")
    @classmethod
    def _expires_in(cls, value: Any) -> float | None:
        return None if value is None else duration_seconds(value)


class KeyCreate(_KeyFields):
    tenant: Name | None = Field(default=None, description="The key's tenant; implied by team or user.")
    team: Name | None = None


class KeyUpdate(_KeyFields):
    pass


class KeyRotate(Payload):
    grace: float | None = Field(default=None, description="How long the old secret stays valid (30m, 1h, or "
                                                          "seconds; 0: not at all). Default governance.rotation_grace.")

    @field_validator("grace", mode="before")
    @classmethod
    def _grace(cls, value: Any) -> float | None:
        if value is None or value == 0 or value == "0":
            return None if value is None else 0.0
        return duration_seconds(value)


P = TypeVar("P", bound=Payload)


def parse(model: type[P], body: dict[str, Any]) -> P:
    """``body`` as ``model``, or a 400 naming the first bad field and why."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or None
        reason = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "is not a field of this request"
        raise InvalidRequest(f"`{where}`: {reason}." if where else f"{reason}.", param=where,
                             code="invalid_value") from None
