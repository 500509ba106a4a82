"""``/admin/flows``: start durable flows and watch and steer their runs (with ``flows:``).

=========================================  =====================================================
``POST /admin/flows/runs``                 start a run: ``{"flow": NAME}`` (a ``flows.definitions``
                                           entry) or, with ``flows.allow_inline``, ``{"definition":
                                           {...YAML flow as JSON, without register:...}}``,
                                           with ``input``, ``limits``, ``run_id``, ``queue`` → 201
``GET /admin/flows/runs``                  the latest runs (``?limit=`` 1–500, default 50)
``GET /admin/flows/runs/{id}``             a run's status, and its outcome once it ended
``GET /admin/flows/events/{id}``           its events as server-sent events until it ends
``GET /admin/flows/journal/{id}``          its journal: every step's request and response
``GET /admin/flows/trace/{id}``            its spans (one trace, a span per step)
``POST /admin/flows/send/{id}``            ``{"event": NAME, "value": ...}`` to its ``wait_for``
``POST /admin/flows/cancel/{id}``          cancel it
``POST /admin/flows/resume/{id}``          resume it from its journal
=========================================  =====================================================

Reading needs a principal that may read the gateway's state (owner, admin, viewer); starting
and steering needs owner or admin. A gateway without ``flows:`` answers 503 ``flows_off``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson

from switchyard.core.errors import InvalidRequest, NotFound, PermissionDenied, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, StreamResponse, json_response
from switchyard.server.routes import Handler, RouteTable

PREFIX = "/admin/flows"
START_KEYS = frozenset(("flow", "definition", "input", "limits", "run_id", "queue"))


def _engine(app: Any) -> Any:
    engine = app.services.flows
    if engine is None:
        raise ServiceUnavailable("This gateway runs no flows (the config has no flows: section).", code="flows_off")
    return engine


async def _steering(app: Any, request: Request) -> None:
    who = await gateway_viewer(app, request)
    if not who.at_least("admin"):
        raise PermissionDenied(f"Not allowed to start or steer flows: the {who.role} role is read-only.",
                               code="forbidden")


def _run_id(request: Request) -> str:
    run_id = request.path_params.get("id", "")
    if not 1 <= len(run_id) <= 128 or "/" in run_id:
        raise InvalidRequest("The run id must be 1 to 128 characters.", param="id")
    return run_id


def _flow_errors(exc: Exception) -> Exception:
    """The flows' errors as the gateway's (their message names the field and the reason); any
    other error as it is. (Imported here: without ``flows:`` the gateway never loads the flows.)"""
    from switchyard.flows.errors import FlowDefinitionError, FlowError, FlowNotFound

    if isinstance(exc, FlowNotFound):
        return NotFound(str(exc), code="flow_not_found")
    if isinstance(exc, FlowDefinitionError):
        return InvalidRequest(f"The flow is invalid: {exc}", param=exc.problems[0][0] if exc.problems else None)
    if isinstance(exc, FlowError):
        return InvalidRequest(str(exc))
    return exc


async def _sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in events:
        yield b"event: " + str(event.get("type", "event")).encode() + b"\ndata: " + orjson.dumps(event, default=str) + b"\n\n"


def add_flow_routes(table: RouteTable, app: Any) -> None:
    async def start(request: Request) -> Response:
        await _steering(app, request)
        engine = _engine(app)
        body = parse_json_body(request.body)
        unknown = sorted(set(body) - START_KEYS)
        if unknown:
            raise InvalidRequest(f"Unknown field {unknown[0]!r}; known: {', '.join(sorted(START_KEYS))}.", param=unknown[0])
        if ("flow" in body) == ("definition" in body):
            raise InvalidRequest("Give flow (a configured flow's name) or definition (a flow), one of them.", param="flow")
        if "flow" in body and not isinstance(body["flow"], str):
            raise InvalidRequest("flow must be a name.", param="flow")
        if body.get("run_id") is not None and not (isinstance(body["run_id"], str) and 1 <= len(body["run_id"]) <= 128):
            raise InvalidRequest("run_id must be 1 to 128 characters.", param="run_id")
        if not isinstance(body.get("queue", False), bool):
            raise InvalidRequest("queue must be true or false.", param="queue")
        if body.get("limits") is not None and not isinstance(body["limits"], dict):
            raise InvalidRequest("limits must be an object.", param="limits")
        if "definition" in body:
            if not app.services.config.flows.allow_inline:
                raise PermissionDenied("Inline flow definitions are off on this gateway (flows.allow_inline); "
                                       "start a flow of flows.definitions by name.", code="inline_flows_off")
            if isinstance(body["definition"], dict) and "register" in body["definition"]:
                raise InvalidRequest("definition.register: importing code is for flows from files "
                                     "(flows.definitions), not for definitions sent over HTTP.", param="definition.register")
        flow = body["flow"] if "flow" in body else {"yaml": body["definition"]}
        try:
            handle = await engine.start(flow, body.get("input"), limits=body.get("limits"), run_id=body.get("run_id"),
                                        queue=body.get("queue", False))
            status = await engine.status(handle.run_id)
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.run", **status.as_dict()}, status=201)

    async def recent(request: Request) -> Response:
        await gateway_viewer(app, request)
        engine = _engine(app)
        query = parse_qs(request.query.decode("utf-8", "replace"), max_num_fields=5)
        try:
            limit = int(query.get("limit", ["50"])[0])
        except ValueError:
            raise InvalidRequest("Query parameter limit must be an integer.", param="limit") from None
        if not 1 <= limit <= 500:
            raise InvalidRequest("Query parameter limit must be between 1 and 500.", param="limit")
        runs = await engine.runs.recent(limit)
        return json_response({"object": "list", "data": [r.as_dict() for r in runs]})

    async def status(request: Request) -> Response:
        await gateway_viewer(app, request)
        try:
            found = await _engine(app).status(_run_id(request))
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.run", **found.as_dict()})

    async def events(request: Request) -> StreamResponse:
        await gateway_viewer(app, request)
        engine, run_id = _engine(app), _run_id(request)
        try:
            await engine.status(run_id)
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return StreamResponse(_sse(engine.events(run_id)), done=None)

    async def journal(request: Request) -> Response:
        await gateway_viewer(app, request)
        try:
            steps = await _engine(app).runs.journal(_run_id(request))
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.journal", "data": orjson.loads(orjson.dumps(steps, default=repr))})

    async def trace(request: Request) -> Response:
        await gateway_viewer(app, request)
        try:
            spans = await _engine(app).trace(_run_id(request))
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.trace", "data": spans})

    async def send(request: Request) -> Response:
        await _steering(app, request)
        engine = _engine(app)
        run_id, body = _run_id(request), parse_json_body(request.body)
        if not isinstance(body.get("event"), str) or not body["event"]:
            raise InvalidRequest("event is required: the name the run waits for.", param="event")
        try:
            await engine.send(run_id, body["event"], body.get("value"))
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.event", "run_id": run_id, "event": body["event"], "sent": True})

    async def cancel(request: Request) -> Response:
        await _steering(app, request)
        engine, run_id = _engine(app), _run_id(request)
        try:
            await engine.cancel(run_id)
            found = await engine.status(run_id)
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.run", **found.as_dict()})

    async def resume(request: Request) -> Response:
        await _steering(app, request)
        engine, run_id = _engine(app), _run_id(request)
        try:
            await engine.resume(run_id)
            found = await engine.status(run_id)
        except Exception as exc:
            raise _flow_errors(exc) from exc
        return json_response({"object": "flow.run", **found.as_dict()})

    table.add("POST", f"{PREFIX}/runs", Handler(start, authenticated=False))
    table.add("GET", f"{PREFIX}/runs", Handler(recent, authenticated=False, reads_body=False))
    table.add("GET", f"{PREFIX}/runs/{{id}}", Handler(status, authenticated=False, reads_body=False))
    table.add("GET", f"{PREFIX}/events/{{id}}", Handler(events, authenticated=False, reads_body=False))
    table.add("GET", f"{PREFIX}/journal/{{id}}", Handler(journal, authenticated=False, reads_body=False))
    table.add("GET", f"{PREFIX}/trace/{{id}}", Handler(trace, authenticated=False, reads_body=False))
    table.add("POST", f"{PREFIX}/send/{{id}}", Handler(send, authenticated=False))
    table.add("POST", f"{PREFIX}/cancel/{{id}}", Handler(cancel, authenticated=False))
    table.add("POST", f"{PREFIX}/resume/{{id}}", Handler(resume, authenticated=False))
