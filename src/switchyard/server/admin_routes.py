"""The admin API: ``/admin/tenants``, ``/admin/teams``, ``/admin/users``, ``/admin/keys``, ``/admin/whoami``.

=======================================  =============================================
``GET /admin/<kind>``                     list (``?limit=&after=``, filters: ``admin_queries``)
``POST /admin/<kind>``                    create (201); a key's secret is in the answer,
                                          the only time it is shown
``GET|PATCH /admin/<kind>/{id}``          read, change (only the fields sent)
``DELETE /admin/<kind>/{id}``             delete (a key: revoke)
``POST /admin/keys/{id}/rotate``          a new secret; the old one valid for ``grace``
``POST /admin/keys/{id}/revoke``          refused everywhere within a second
``GET /admin/whoami``                     the principal the credential signs in as
=======================================  =============================================

Every route signs the caller in (``admin_access.principal``) and the
governance ``Admin`` checks the role on every record it reads or writes.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import NotFound, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.governance import payloads
from switchyard.governance.admin import NOT_FOUND, Admin
from switchyard.governance.entities import Entity
from switchyard.server.admin_access import principal
from switchyard.server.admin_queries import PAGES, parse_query
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable

PLURAL = {"tenants": "tenant", "teams": "team", "users": "user", "keys": "key"}
FILTERS = ("tenant", "team", "user", "status")


def _admin(app: Any) -> Admin:
    governance = app.services.governance
    if governance is None:
        raise ServiceUnavailable("The admin API needs authentication: set auth.master_key (or governance.oidc).",
                                 code="governance_off")
    admin: Admin = governance.admin
    return admin


def _record_id(kind: str, value: str) -> str:
    """A record id from a path: one with a control character names no record (and PostgreSQL
    refuses a NUL in a text value), so it is a 404 before any lookup."""
    if not value.isprintable():
        raise NotFound(f"No {kind} {value!r}.", code=NOT_FOUND[kind])
    return value


def _shown(record: Any, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = record.public()
    if secret is not None:
        out["key"] = secret  # shown this once
    return out


def add_admin_routes(table: RouteTable, app: Any) -> None:
    def collection(plural: str) -> tuple[Handler, Handler]:
        kind = PLURAL[plural]

        async def listing(request: Request) -> Response:
            admin = _admin(app)
            who = await principal(app, request)
            query = parse_query(PAGES[kind], request.query)
            filters = {name: value for name in FILTERS if (value := getattr(query, name, None)) is not None}
            page, more = await admin.list(who, kind, filters, query.limit, query.after)
            return json_response({"object": "list", "data": [_shown(r) for r in page], "has_more": more,
                                  "last_id": page[-1].id if page else None})

        async def create(request: Request) -> Response:
            admin = _admin(app)
            who = await principal(app, request)
            body = parse_json_body(request.body)
            if kind == "tenant":
                return json_response(_shown(await admin.create_tenant(who, payloads.parse(payloads.TenantCreate, body))), 201)
            if kind == "team":
                return json_response(_shown(await admin.create_team(who, payloads.parse(payloads.TeamCreate, body))), 201)
            if kind == "user":
                return json_response(_shown(await admin.create_user(who, payloads.parse(payloads.UserCreate, body))), 201)
            key, secret = await admin.create_key(who, payloads.parse(payloads.KeyCreate, body))
            return json_response(_shown(key, secret), 201)

        return Handler(listing, authenticated=False, reads_body=False), Handler(create, authenticated=False)

    def item(plural: str) -> dict[str, Handler]:
        kind = PLURAL[plural]

        def entity_id(request: Request) -> str:
            value = request.path_params["id"]
            if "/" in value:
                raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
            return _record_id(kind, value)

        async def read(request: Request) -> Response:
            admin = _admin(app)
            who = await principal(app, request)
            return json_response(_shown(await admin.get(who, kind, entity_id(request))))

        async def change(request: Request) -> Response:
            admin = _admin(app)
            who = await principal(app, request)
            target, body = entity_id(request), parse_json_body(request.body)
            if kind == "tenant":
                record: Entity = await admin.update_tenant(who, target, payloads.parse(payloads.TenantUpdate, body))
            elif kind == "team":
                record = await admin.update_team(who, target, payloads.parse(payloads.TeamUpdate, body))
            elif kind == "user":
                record = await admin.update_user(who, target, payloads.parse(payloads.UserUpdate, body))
            else:
                record = await admin.update_key(who, target, payloads.parse(payloads.KeyUpdate, body))
            return json_response(_shown(record))

        async def delete(request: Request) -> Response:
            admin = _admin(app)
            who = await principal(app, request)
            target = entity_id(request)
            removed = {"tenant": admin.delete_tenant, "team": admin.delete_team, "user": admin.delete_user,
                       "key": admin.revoke_key}[kind]
            return json_response(_shown(await removed(who, target)))

        handlers = {"GET": Handler(read, authenticated=False, reads_body=False),
                    "PATCH": Handler(change, authenticated=False),
                    "DELETE": Handler(delete, authenticated=False, reads_body=False)}
        if kind == "key":
            handlers["POST"] = Handler(key_action, authenticated=False)
        return handlers

    async def key_action(request: Request) -> Response:
        """``POST /admin/keys/{id}/rotate`` and ``/revoke``."""
        admin = _admin(app)
        target, _, action = request.path_params["id"].partition("/")
        if action not in ("rotate", "revoke") or not target:
            raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
        target = _record_id("key", target)
        who = await principal(app, request)
        if action == "revoke":
            return json_response(_shown(await admin.revoke_key(who, target)))
        body = parse_json_body(request.body) if request.body.strip() else {}
        key, secret = await admin.rotate_key(who, target, payloads.parse(payloads.KeyRotate, body))
        return json_response(_shown(key, secret))

    async def whoami(request: Request) -> Response:
        who = await principal(app, request)
        return json_response({"role": who.role, "subject": who.subject, "team_id": who.team_id,
                              "tenant_id": who.tenant_id, "user_id": who.user_id, "key_id": who.key_id})

    for plural in PLURAL:
        listing, create = collection(plural)
        table.add("GET", f"/admin/{plural}", listing)
        table.add("POST", f"/admin/{plural}", create)
        for method, handler in item(plural).items():
            table.add(method, f"/admin/{plural}/{{id}}", handler)
    table.add("GET", "/admin/whoami", Handler(whoami, authenticated=False, reads_body=False))
