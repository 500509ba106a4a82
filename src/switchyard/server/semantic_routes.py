"""``/admin/cache/semantic``: what the semantic cache holds, and purging it by partition and alias.

``GET`` (owner, admin, viewer) answers this replica's index — with ``cache.backend:
redis`` every replica holds the same entries — filtered by ``partition`` and
``alias``: totals per partition and alias, and the ``limit`` (1–1000, default
100) most recently used entries, each with a preview of its prompt, its hits and
expiry; never an answer. ``DELETE`` (owner, admin) drops every entry of
``partition`` (required), of ``alias`` only when given, on every replica.

A partition is named as the cache names it: ``tenant:<name>`` or
``tenant-id:<id>`` (``team:``, ``team-id:``, ``key:``, ``key-id:`` with
``cache.partition: team`` or ``key``), ``open`` on a gateway without keys.
A gateway without a semantic cache answers 503 ``semantic_cache_off``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from switchyard.core.errors import InvalidRequest, PermissionDenied, ServiceUnavailable
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable

PATH = "/admin/cache/semantic"
_KNOWN = {"GET": frozenset(("partition", "alias", "limit")), "DELETE": frozenset(("partition", "alias"))}


def parse_query(raw: bytes, method: str) -> dict[str, str]:
    """The query's parameters, one value each; an unknown or repeated one is a 400 naming it."""
    known = _KNOWN[method]
    try:
        params = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The query string is not valid.", param="query") from None
    for name, values in params.items():
        if name not in known:
            raise InvalidRequest(f"Unknown query parameter {name!r}; known: {', '.join(sorted(known))}.",
                                 param=name[:64])
        if len(values) != 1 or not values[0] or len(values[0]) > 512:
            raise InvalidRequest(f"Query parameter {name} must be given once, 1 to 512 characters.", param=name)
    return {name: values[0] for name, values in params.items()}


def _semantic(app: Any) -> Any:
    cache = app.services.cache
    semantic = None if cache is None else cache.semantic
    if semantic is None or not hasattr(semantic, "purge"):
        raise ServiceUnavailable("This gateway has no semantic cache (an alias's cache: says semantic: true).",
                                 code="semantic_cache_off")
    return semantic


def add_semantic_routes(table: RouteTable, app: Any) -> None:
    async def inspect(request: Request) -> Response:
        await gateway_viewer(app, request)
        query = parse_query(request.query, "GET")
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            raise InvalidRequest("Query parameter limit must be an integer.", param="limit") from None
        if not 1 <= limit <= 1000:
            raise InvalidRequest("Query parameter limit must be between 1 and 1000.", param="limit")
        seen = _semantic(app).inspect(query.get("partition"), query.get("alias"), limit=limit)
        return json_response({"object": "semantic_cache", **seen})

    async def purge(request: Request) -> Response:
        who = await gateway_viewer(app, request)
        if not who.at_least("admin"):
            raise PermissionDenied(f"Not allowed to purge the semantic cache: the {who.role} role is read-only.",
                                   code="forbidden")
        query = parse_query(request.query, "DELETE")
        partition = query.get("partition")
        if partition is None:
            raise InvalidRequest("Query parameter partition is required (e.g. tenant:acme).", param="partition")
        alias = query.get("alias")
        deleted = await _semantic(app).purge(partition, alias)
        return json_response({"object": "semantic_cache.purge", "partition": partition, "alias": alias,
                              "deleted": deleted})

    table.add("GET", PATH, Handler(inspect, authenticated=False, reads_body=False))
    table.add("DELETE", PATH, Handler(purge, authenticated=False, reads_body=False))
