"""The admin API's part of ``GET /openapi.json``, from the models that check it.

* request bodies — the pydantic payloads that validate them (``governance/payloads.py``,
  strict JSON: the document says what is accepted, nothing looser), the ``Budget`` terms
  included, and ``RouteQuestion`` for the routing dry-run;
* query parameters — the models that parse them (``server/admin_queries.py``);
* the directory's records — the entity dataclasses themselves (``governance/entities.py``),
  less what is never shown (a secret's hash), every field always present;
* the other answers — the structs below, which the schema-driven fuzz run checks against
  real answers (``tests/server/test_admin_openapi_fuzz.py``).

Every operation lists the errors it may answer with, in the gateway's one error shape.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal

import msgspec
from pydantic.json_schema import models_json_schema

from switchyard.core.config.budgets import Budget
from switchyard.governance import payloads
from switchyard.governance.entities import CLASSES
from switchyard.server import admin_queries as q
from switchyard.server.routing_routes import RouteQuestion
from switchyard.spend.record import GROUP_BY
from switchyard.spend.report import ROLLUP_FIELDS

REF = "#/components/schemas/{name}"
#: Who may call the admin API: the master key or an admin's OIDC token (a role), or a virtual key
#: (its own key and spend).
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"adminToken": []}, {"apiKey": []}]
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
                  "description": "`Authorization: Bearer <key>`: the master key (the owner), a static key of "
                                 "`auth.keys`, or a virtual key (on the admin API: its own key and spend)."},
    "adminToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An admin's OIDC token (`governance.oidc`): its role claim, or its directory "
                                  "user's role."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
               "description": "Any of those keys in `x-api-key` instead."},
}
#: The errors every admin operation may answer with, and those of some.
ERRORS = {
    "400": "Malformed: a bad body field or query parameter (`param` names it), or an unknown reference",
    "401": "No credential, or one the gateway does not know (a revoked or expired key, an invalid token)",
    "403": "The caller's role may not do this (`forbidden`)",
    "404": "No such record, or an unknown path",
    "405": "Another method than the path's",
    "408": "Headers or body slower than server.header_timeout / server.body_timeout",
    "413": "Body over server.max_body_bytes",
    "431": "Headers over server.max_header_bytes or server.max_headers",
    "503": "Unavailable: the admin API without auth (`governance_off`), the OIDC issuer unreachable, "
           "starting or stopping",
}
WRITE_ERRORS = {"409": "A live name is taken, the record changed concurrently, a revoked key, or a record "
                       "that still holds others"}


# -- answers ----------------------------------------------------------------------------------------
class WhoAmI(msgspec.Struct):
    role: Literal["owner", "admin", "team_admin", "viewer", "member", "key_holder"]
    subject: str
    team_id: str | None
    tenant_id: str | None
    user_id: str | None
    key_id: str | None


class AuditEntry(msgspec.Struct):
    id: int
    at: float
    kind: str
    actor: str
    action: str
    target: str | None
    source: str | None
    detail: dict[str, Any]
    hash: str


class AuditPage(msgspec.Struct):
    object: Literal["list"]
    data: list[AuditEntry]
    next_after: int | None


class RetryBudget(msgspec.Struct):
    requests: int
    retries: int
    refused: int
    allowed: int


class DeploymentPrice(msgspec.Struct):
    priced: bool
    source: str
    per_million: dict[str, float] | None = None


class DeploymentState(msgspec.Struct):
    id: str
    alias: str
    provider: str
    model: str
    region: str | None
    price: DeploymentPrice
    available: bool
    successes: int
    failures: int
    latency_ms: float | None = None
    last_error: str | None = None
    breaker: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None


class DeploymentsReport(msgspec.Struct):
    deployments: list[DeploymentState]
    retry_budget: RetryBudget
    breaker_sharing: Literal["memory", "redis"]
    health_check_rounds: int | None = None


class RouteExplanation(msgspec.Struct):
    requested_model: str
    alias: str
    rule: str | None
    candidates: list[dict[str, Any]] | None = None
    chosen: str | None = None
    error: dict[str, Any] | None = None


class Mean(msgspec.Struct):
    count: int
    mean: float | None
    ci95: list[float] | None


class Cost(msgspec.Struct):
    count: int
    mean: float | None
    ci95: list[float] | None
    total: float


class Rate(msgspec.Struct):
    value: float | None
    ci95: list[float] | None


class VariantReport(msgspec.Struct):
    variant: str
    weight: float
    requests: int
    errors: int
    error_rate: Rate
    latency_ms: Mean
    cost_usd: Cost
    feedback: Mean


class ExperimentReport(msgspec.Struct):
    object: Literal["experiment"]
    name: str
    alias: str
    since: float
    variants: list[VariantReport]


class ExperimentSummary(msgspec.Struct):
    name: str
    alias: str
    variants: list[str]
    requests: int


class ExperimentList(msgspec.Struct):
    object: Literal["list"]
    data: list[ExperimentSummary]


_STRUCTS = (WhoAmI, AuditPage, DeploymentsReport, RouteExplanation, ExperimentReport, ExperimentList)
_PAYLOADS = (payloads.TenantCreate, payloads.TenantUpdate, payloads.TeamCreate, payloads.TeamUpdate,
             payloads.UserCreate, payloads.UserUpdate, payloads.KeyCreate, payloads.KeyUpdate, payloads.KeyRotate,
             RouteQuestion)
KINDS = {"tenants": "tenant", "teams": "team", "users": "user", "keys": "key"}


def _schema_hook(kind: type) -> dict[str, Any]:
    if kind is Budget:
        return {"$ref": REF.format(name="Budget")}
    raise NotImplementedError(kind)


def _records() -> dict[str, Any]:
    """The directory's records as the admin API shows them (``Entity.public``): every field,
    less the hidden ones, and ``object`` naming the kind."""
    _, components = msgspec.json.schema_components(list(CLASSES.values()), schema_hook=_schema_hook,
                                                   ref_template=REF)
    out = {}
    for kind, cls in CLASSES.items():
        schema = components.pop(cls.__name__)
        hidden = set(getattr(cls, "_hidden", ()))
        properties = {name: {k: v for k, v in prop.items() if k != "default"}
                      for name, prop in schema["properties"].items() if name not in hidden}
        properties["object"] = {"const": kind}
        public = [f.name for f in fields(cls) if f.name not in hidden]
        out[cls.__name__] = {"title": cls.__name__, "type": "object", "properties": properties,
                             "required": [*public, "object"]}
    out.update(components)
    return out


def _rollups() -> dict[str, Any]:
    figures = {name: {"type": "number" if name == "cost_usd" else "integer"} for name in ROLLUP_FIELDS
               if name != "group"}
    row = {"type": "object", "properties": figures, "required": list(figures),
           "additionalProperties": {"type": ["string", "integer", "null"]},
           "description": "One group's totals; the group's value is under the `group_by` name (a time "
                          "series': the interval's start, epoch seconds)."}
    report = {"type": "object", "required": ["object", "group_by", "from", "to", "data", "total"], "properties": {
        "object": {"const": "spend_report"}, "group_by": {"enum": list(GROUP_BY)},
        "from": {"type": ["number", "null"]}, "to": {"type": ["number", "null"]},
        "data": {"type": "array", "items": {"$ref": REF.format(name="SpendRow")}},
        "total": {"type": "object", "properties": figures, "required": list(figures)}}}
    return {"SpendRow": row, "SpendReport": report}


def schemas() -> dict[str, Any]:
    """The admin API's components: request bodies, records, answers."""
    _, definitions = models_json_schema([(model, "validation") for model in _PAYLOADS],
                                        ref_template=REF.replace("{name}", "{model}"))
    out: dict[str, Any] = {name: _untitled(schema) for name, schema in definitions["$defs"].items()}
    out.update(_records())
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=REF)
    out.update(components)
    for kind in KINDS.values():
        record = CLASSES[kind].__name__
        out[f"{record}List"] = {"type": "object", "required": ["object", "data", "has_more", "last_id"], "properties": {
            "object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": REF.format(name=record)}},
            "has_more": {"type": "boolean"}, "last_id": {"type": ["string", "null"]}}}
    out["CreatedKey"] = {"allOf": [{"$ref": REF.format(name="Key")}, {
        "type": "object", "required": ["key"],
        "properties": {"key": {"type": "string", "description": "The secret: shown this once."}}}]}
    out.update(_rollups())
    out["AdminReport"] = {"type": "object", "description": "A report whose fields the README's section names."}
    out.update(FLOW_SCHEMAS)
    return out


def _untitled(node: Any) -> Any:
    """pydantic's per-field ``title``s are noise in the document (a model keeps its own)."""
    if isinstance(node, dict):
        props = node.get("properties")
        out = {k: _untitled(v) for k, v in node.items() if k != "properties"}
        if isinstance(props, dict):
            out["properties"] = {name: {k: _untitled(v) for k, v in prop.items() if k != "title"}
                                 for name, prop in props.items()}
        return out
    if isinstance(node, list):
        return [_untitled(item) for item in node]
    return node


def _responses(status: str, answer: str, description: str, writes: bool = False) -> dict[str, Any]:
    ref = {"$ref": REF.format(name="Error")}
    errors = {**ERRORS, **(WRITE_ERRORS if writes else {})}
    out: dict[str, Any] = {status: {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(name=answer)}}}}}
    out.update({code: {"description": text, "content": {"application/json": {"schema": ref}}}
                for code, text in sorted(errors.items())})
    return out


def _operation(summary: str, answer: str, *, status: str = "200", body: str | None = None,
               body_required: bool = True, params: list[dict[str, Any]] | None = None,
               writes: bool = False, roles: str) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"Roles: {roles}.", "tags": ["admin"],
                          "security": SECURITY, "responses": _responses(status, answer, summary, writes)}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {
            "schema": {"$ref": REF.format(name=body)}}}}
    return op


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
      "description": "The record's id (`key_…`, `team_…`…)."}


def paths() -> dict[str, Any]:
    """The admin API's operations."""
    out: dict[str, Any] = {}
    readers = "owner, admin, viewer: all; a team admin their team's; a member their own; a key its own"
    for plural, kind in KINDS.items():
        record = CLASSES[kind].__name__
        title = kind.capitalize()
        created = "CreatedKey" if kind == "key" else record
        writers = "owner" if kind == "tenant" else "owner, admin; a team admin in their team"
        out[f"/admin/{plural}"] = {
            "get": _operation(f"List {plural}, oldest first", f"{record}List",
                              params=q.parameters(q.PAGES[kind]), roles=readers),
            "post": _operation(f"Create a {kind}", created, status="201", body=f"{title}Create", writes=True,
                               roles=writers),
        }
        out[f"/admin/{plural}/{{id}}"] = {
            "parameters": [ID],
            "get": _operation(f"One {kind}", record, roles=readers),
            "patch": _operation(f"Change a {kind}: only the fields sent (null clears one)", record,
                                body=f"{title}Update", writes=True, roles=writers),
            "delete": _operation("Revoke a key" if kind == "key" else f"Delete an empty {kind}", record, writes=True,
                                 roles=writers),
        }
    out["/admin/keys/{id}/rotate"] = {"parameters": [ID], "post": _operation(
        "A new secret; the old one stays valid for `grace`", "CreatedKey", body="KeyRotate", body_required=False,
        writes=True, roles="owner, admin; a team admin in their team")}
    out["/admin/keys/{id}/revoke"] = {"parameters": [ID], "post": _operation(
        "Revoke a key: refused everywhere within a second", "Key", writes=True,
        roles="owner, admin; a team admin in their team")}
    out["/admin/whoami"] = {"get": _operation("The principal the credential signs in as", "WhoAmI",
                                              roles="anyone with a credential")}
    gateway = "owner, admin, viewer"
    out["/admin/audit"] = {"get": _operation("The audit log, filtered; `next_after` pages on", "AuditPage",
                                             params=q.parameters(q.AuditParams), roles=gateway)}
    out["/admin/spend"] = {"get": _operation(
        "Spend rolled up by one dimension, costliest first", "SpendReport", params=q.parameters(q.SpendParams),
        roles=f"{gateway}: all; a team admin their team's; a member their keys'; a key its own")}
    out["/admin/deployments"] = {"get": _operation("Every deployment's health, breaker, latency and price",
                                                   "DeploymentsReport", roles=gateway)}
    out["/admin/route"] = {"post": _operation(
        "Routing dry-run: nothing is sent upstream", "RouteExplanation", body="RouteRequest", roles=gateway)}
    out["/admin/slo"] = {"get": _operation(
        "Each objective's current value, budget burn and state, and the feedback scores per alias "
        "(503 `slo_off` without `slo:`)", "AdminReport", roles=gateway)}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": "The experiment's name (an alias's `experiment:`)."}
    out["/admin/experiments"] = {"get": _operation(
        "The A/B experiments (503 `experiments_off` without any)", "ExperimentList", roles=gateway)}
    out["/admin/experiments/{name}"] = {"parameters": [name], "get": _operation(
        "An experiment's requests, cost, latency, error rate and mean feedback per variant, with 95% "
        "confidence intervals (404 `experiment_not_found`; 503 `experiments_off` without any)",
        "ExperimentReport", roles=gateway)}
    partition = {"name": "partition", "in": "query", "schema": {"type": "string", "minLength": 1},
                 "description": "`tenant:<name>`, `team:<id>`, `key:<id>` or `open`, as the cache names it."}
    alias = {"name": "alias", "in": "query", "required": False, "schema": {"type": "string", "minLength": 1}}
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
    out["/admin/cache/semantic"] = {
        "get": _operation("What the semantic cache holds, per partition and alias (503 `semantic_cache_off` "
                          "without one)", "AdminReport", params=[{**partition, "required": False}, alias, limit],
                          roles=gateway),
        "delete": _operation("Purge the semantic cache's entries of a partition, or of one alias in it",
                             "AdminReport", params=[{**partition, "required": True}, alias], writes=True,
                             roles="owner, admin"),
    }
    out["/admin/mcp"] = {"get": _operation(
        "The MCP gateway's servers, their tools, who may use which and the tool limits (503 `mcp_off` "
        "without `mcp:`)", "AdminReport", roles=gateway)}
    out.update(_flow_paths(gateway, limit))
    return out


def _flow_paths(gateway: str, limit: dict[str, Any]) -> dict[str, Any]:
    """``/admin/flows`` (``server/flow_routes.py``); each answers 503 ``flows_off`` without ``flows:``."""
    run = {**ID, "description": "The run's id."}
    off = " (503 `flows_off` without `flows:`)"
    steer = "owner, admin"
    out: dict[str, Any] = {"/admin/flows/runs": {
        "get": _operation(f"The latest flow runs, newest first{off}", "AdminReport",
                          params=[{**limit, "schema": {"type": "integer", "minimum": 1, "maximum": 500}}], roles=gateway),
        "post": _operation(f"Start a flow run{off}", "AdminReport", status="201", body="FlowStart", writes=True,
                           roles=steer)}}
    for what, summary in (("runs", "A run's status, and its outcome once it ended"),
                          ("events", "A run's events as server-sent events (text/event-stream), until it ends"),
                          ("journal", "A run's journal: each step's output, a model step's exact request and response"),
                          ("trace", "A run as one trace: a span per step")):
        out[f"/admin/flows/{what}/{{id}}"] = {"parameters": [run], "get": _operation(summary + off, "AdminReport",
                                                                                      roles=gateway)}
    for what, summary, body in (("send", "Deliver an event to a run's wait_for", "FlowEvent"),
                                ("cancel", "Cancel a run", None), ("resume", "Resume a run from its journal", None)):
        out[f"/admin/flows/{what}/{{id}}"] = {"parameters": [run], "post": _operation(
            summary + off, "AdminReport", body=body, writes=True, roles=steer)}
    return out


FLOW_SCHEMAS: dict[str, Any] = {
    "FlowStart": {"type": "object", "additionalProperties": False, "properties": {
        "flow": {"type": "string", "minLength": 1, "description": "A flow of `flows.definitions`, by name."},
        "definition": {"type": "object", "description": "A flow (the YAML form, as JSON, without `register`); "
                       "instead of `flow`, with `flows.allow_inline` (else 403 `inline_flows_off`)."},
        "input": {"description": "The flow's input."},
        "limits": {"type": "object", "properties": {k: {"type": "number", "exclusiveMinimum": 0} for k in
                                                    ("steps", "model_calls", "tokens", "usd", "wall_seconds")},
                   "additionalProperties": False},
        "run_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "queue": {"type": "boolean", "description": "Leave the run to a flow worker."}}},
    "FlowEvent": {"type": "object", "required": ["event"], "additionalProperties": False, "properties": {
        "event": {"type": "string", "minLength": 1, "maxLength": 200}, "value": {"description": "Any JSON."}}},
}


def route_request_schema() -> dict[str, Any]:
    """``POST /admin/route``'s body: a chat or embeddings request, or a ``RouteQuestion``."""
    return {"anyOf": [{"$ref": REF.format(name="ChatCompletionRequest")},
                      {"$ref": REF.format(name="EmbeddingRequest")},
                      {"$ref": REF.format(name="RouteQuestion")}]}
