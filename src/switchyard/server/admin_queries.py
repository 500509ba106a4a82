"""The admin API's query strings, as models: they validate them, and ``/openapi.json`` describes them.

=====================================  ================================================================
``GET /admin/<kind>``                  ``limit`` (1–1000, default 100), ``after`` (the last id of the
                                       previous page); teams also ``tenant``; users ``tenant``, ``team``;
                                       keys ``tenant``, ``team``, ``user``, ``status``
``GET /admin/audit``                   ``kind``, ``actor``, ``action``, ``target``, ``from``, ``to``,
                                       ``after`` (an entry id), ``limit`` (1–1000, default 100)
``GET /admin/spend``                   ``group_by`` (required), ``from``, ``to``, ``limit`` (1–10000,
                                       default 1000)
=====================================  ================================================================

Every parameter is given at most once; an unknown one, a repeated one or a bad value is a 400
naming it. Instants (``from``, ``to``) are epoch seconds or ISO 8601 times; ``to`` is excluded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from switchyard.core.errors import InvalidRequest
from switchyard.governance.admin import MAX_PAGE
from switchyard.spend.record import GROUP_BY

#: Most parameters a query string may hold (more is a 400, before anything is parsed).
MAX_FIELDS = 20


#: The instants a query may name: years 1 to 9999, as ISO 8601 can write them (epoch seconds).
EARLIEST, LATEST = -62_135_596_800.0, 253_402_300_799.0


def instant(value: Any) -> Any:
    """Epoch seconds or ISO 8601 -> epoch seconds (a ``ValueError`` saying what is expected)."""
    if not isinstance(value, str):
        return value
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            raise ValueError("must be epoch seconds or an ISO 8601 time such as 2026-11-01T00:00:00Z") from None
    if not EARLIEST <= seconds <= LATEST:  # NaN too
        raise ValueError("must be an instant between the years 1 and 9999")
    return seconds


Instant = Annotated[float, BeforeValidator(instant),
                    WithJsonSchema({"anyOf": [{"type": "number", "minimum": EARLIEST, "maximum": LATEST},
                                              {"type": "string", "format": "date-time"}]})]
Text = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Params(BaseModel):
    """A query string's parameters (all text on the wire; numbers are read from it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class Page(Params):
    limit: int = Field(default=100, ge=1, le=MAX_PAGE, description="At most this many records.")
    after: Text | None = Field(default=None, description="The id the previous page ended with (its `last_id`).")


class TenantPage(Page):
    pass


class TeamPage(Page):
    tenant: Text | None = Field(default=None, description="Only this tenant's (its id or name).")


class UserPage(TeamPage):
    team: Text | None = Field(default=None, description="Only this team's (its id or name).")


class KeyPage(UserPage):
    user: Text | None = Field(default=None, description="Only the keys issued to this user (id or email).")
    status: Literal["active", "revoked"] | None = None


#: The list query of each kind of directory record.
PAGES: dict[str, type[Page]] = {"tenant": TenantPage, "team": TeamPage, "user": UserPage, "key": KeyPage}


class _Range(Params):
    since: Instant | None = Field(default=None, alias="from", description="From this instant (epoch seconds or "
                                                                            "ISO 8601).")
    until: Instant | None = Field(default=None, alias="to", description="Before this instant (excluded).")

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValueError("`to` must not be before `from`")
        return self


class AuditParams(_Range):
    kind: Text | None = Field(default=None, description="What was recorded: `admin` (actions), `request`, `guard`, "
                                                        "`tool`…", examples=["admin", "request"])
    actor: Text | None = Field(default=None, description="Who: `master`, `oidc:<sub>`, a key's name.")
    action: Text | None = Field(default=None, description="What, e.g. `key.create`, `chat`.")
    target: Text | None = Field(default=None, description="The record acted on (its id).")
    after: int = Field(default=0, ge=0, le=2**62, description="The id of the last entry seen: the page after it.")
    limit: int = Field(default=100, ge=1, le=1000, description="At most this many entries.")


class SpendParams(_Range):
    group_by: Literal[tuple(GROUP_BY)] = Field(  # type: ignore[valid-type]
        description="The dimension to roll up by; minute, hour or day: a time series (oldest first).")
    limit: int = Field(default=1000, ge=1, le=10_000, description="At most this many groups.")


M = TypeVar("M", bound=Params)


def parse_query(model: type[M], raw: bytes) -> M:
    """The parameters of a query string as ``model``; a 400 naming the first bad one otherwise."""
    try:
        params = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"The query string is not valid (at most {MAX_FIELDS} parameters, UTF-8).",
                             param="query") from None
    for name, values in params.items():
        if len(values) != 1:
            raise InvalidRequest(f"Query parameter {name} must be given once.", param=name[:64])
    try:
        return model.model_validate({name: values[0] for name, values in params.items()})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            known = ", ".join(field.alias or key for key, field in model.model_fields.items())
            raise InvalidRequest(f"Unknown query parameter {name[:64]!r}; known: {known}.", param=name[:64]) from None
        reason = str(error["msg"]).removeprefix("Value error, ")
        if not name:  # a check of the whole query (the range's order)
            raise InvalidRequest(f"{reason}.", param="to") from None
        raise InvalidRequest(f"Query parameter {name}: {reason}.", param=name) from None


def parameters(model: type[Params]) -> list[dict[str, Any]]:
    """``model``'s fields as OpenAPI query parameters (for ``/openapi.json``)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        description = prop.pop("description", None)
        branches = [b for b in prop.pop("anyOf", ()) if b != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        if prop.get("default", 0) is None:
            del prop["default"]
        entry: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            entry["description"] = description
        out.append(entry)
    return out
