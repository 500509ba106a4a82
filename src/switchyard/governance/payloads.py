"""The admin API's request bodies, validated: unknown fields and bad values are 400s naming the field.

Create bodies say what a new record holds; update bodies (``PATCH``) hold only
what changes — a field left out is kept, a field sent as ``null`` is cleared.
Owners are named by id or by name (a tenant or team name, a user's email).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from switchyard.core.config.budgets import DURATION_SCHEMA
from switchyard.core.config.governance import Role
from switchyard.core.errors import InvalidRequest
from switchyard.governance.entities import Budget, duration_seconds

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE, strip_whitespace=True)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
EMAIL = r"^[^@\s]+@[^@\s]+$"
Email = Annotated[str, StringConstraints(min_length=3, max_length=200, pattern=EMAIL)]
#: A name the gateway reads from metadata (a guard policy, a region).
REF_NAME = r"[A-Za-z0-9_.-]{1,64}"


def _guard_entries(metadata: dict[str, str]) -> dict[str, str]:
    """The entries the gateway itself reads: ``guard`` (a policy name) and ``regions`` (comma-separated)."""
    guard = metadata.get("guard")
    if guard is not None and not re.fullmatch(REF_NAME, guard):
        raise ValueError("`guard` names a guard policy: letters, digits, _ . - only")
    regions = metadata.get("regions")
    if regions is not None:
        names = [r.strip() for r in regions.split(",")]
        if not all(re.fullmatch(REF_NAME, r) for r in names):
            raise ValueError("`regions` is a comma-separated list of region names (letters, digits, _ . -)")
    return metadata


Metadata = Annotated[
    dict[Short, Annotated[str, StringConstraints(max_length=512)]], Field(max_length=64),
    AfterValidator(_guard_entries),
    WithJsonSchema({"type": "object", "maxProperties": 64,
                    "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": PRINTABLE},
                    "properties": {"guard": {"type": "string", "pattern": f"^{REF_NAME}$"},
                                   "regions": {"type": "string",
                                               "pattern": rf"^\s*{REF_NAME}\s*(,\s*{REF_NAME}\s*)*$"}},
                    "additionalProperties": {"type": "string", "maxLength": 512},
                    "description": "Names to text values, read by routing rules; `guard` names a guard "
                                   "policy, `regions` the regions (comma-separated) a caller is pinned to."}),
]
#: A count per minute: at least 1, and small enough for every store to hold.
Limit = Annotated[int, Field(ge=1, le=10**12)]
#: An HTTP path a key may call.
PATH = r"^/"
Route = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PATH)]
#: What a value that does not match a pattern is told.
MISMATCH = {PRINTABLE: "must be printable text (no control characters)", EMAIL: "is not an email address",
            PATH: "is not a path such as /v1/chat/completions"}
Aliases = Annotated[list[Name], Field(max_length=1000)]
#: Seconds, from a number or a duration such as ``30d`` (``duration_seconds``).
Duration = Annotated[float, BeforeValidator(duration_seconds), WithJsonSchema(DURATION_SCHEMA)]


def _expiry(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 time such as 2027-01-31T00:00:00Z") from None
    return value


#: An instant: epoch seconds, or an ISO 8601 time.
Instant = Annotated[float, BeforeValidator(_expiry),
                    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
                                    "description": "Epoch seconds or an ISO 8601 time."})]


def _grace(value: Any) -> Any:
    return 0.0 if value == 0 and not isinstance(value, bool) or value == "0" else duration_seconds(value)


#: A rotation's grace: 0 (none), seconds, or a duration.
Grace = Annotated[float, BeforeValidator(_grace),
                  WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, DURATION_SCHEMA["anyOf"][1]],
                                  "description": "How long the old secret stays valid (30m, 1h, or seconds; "
                                                 "0: not at all). Default governance.rotation_grace."})]


class Payload(BaseModel):
    """A request body: unknown fields refused, values of exactly their JSON type (a number is not a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (for a PATCH), as values (a budget stays a ``Budget``)."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def values(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every field, as values."""
        return {name: getattr(self, name) for name in type(self).model_fields if name not in exclude}


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
    models: Aliases | None = Field(default=None, description="Aliases every key of the team is limited to.")


class TeamUpdate(_Limits):
    name: Name | None = None
    models: Aliases | None = None


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
    models: Aliases | None = Field(default=None, description="Aliases the key may use; all when unset.")
    routes: Annotated[list[Route], Field(max_length=100)] | None = Field(default=None, description="Paths the key may call; all client routes when unset.")
    rpm: Limit | None = None
    tpm: Limit | None = None
    budget: Budget | None = None
    expires_at: Instant | None = Field(default=None, description="Epoch seconds or an ISO 8601 time.")
    expires_in: Duration | None = Field(default=None, description="Or a duration from now: 30d, 12h, 90m.")
    tier: Short | None = None
    metadata: Metadata | None = None
    tags: Annotated[list[Short], Field(max_length=64)] | None = None


class KeyCreate(_KeyFields):
    tenant: Name | None = Field(default=None, description="The key's tenant; implied by team or user.")
    team: Name | None = None


class KeyUpdate(_KeyFields):
    pass


class KeyRotate(Payload):
    grace: Grace | None = None


P = TypeVar("P", bound=Payload)


def parse(model: type[P], body: dict[str, Any]) -> P:
    """``body`` as ``model``, or a 400 naming the first bad field and why. Validated as JSON,
    strictly: what the admin API's OpenAPI document says each field is, nothing looser."""
    try:
        return model.model_validate_json(orjson.dumps(body), strict=True)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or None
        reason = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "is not a field of this request"
        elif error["type"] == "string_pattern_mismatch":
            reason = MISMATCH.get(str((error.get("ctx") or {}).get("pattern")), reason)
        raise InvalidRequest(f"`{where}`: {reason}." if where else f"{reason}.", param=where,
                             code="invalid_value") from None
