"""``GET /admin/slo`` and ``POST /v1/feedback`` (the SLO monitor, ``observe/slo.py``; with ``slo:``).

``GET /admin/slo`` (owner, admin, viewer) answers each objective's state, its
current value, the events and bad events in its window, its error budget's burn
rate and what is left of it, the breakers open, feedback per alias and the
alerts' counts. ``POST /v1/feedback`` (a client key, like the other ``/v1``
routes) scores an answer::

    {"request_id": "req_e357bd80688961b266c9e81d", "score": 0.8}

``request_id`` is the ``x-request-id`` the gateway answered with; ``score``
from 0 (useless) to 1 (perfect). Answer: ``{"object": "feedback", "request_id",
"alias", "score"}``, with ``experiment`` and ``variant`` for an A/B experiment's answer
(``observe/experiments.py``: feedback works with ``slo:`` or an experiment); a request
id the gateway does not remember (too old, or another key's) is a 404 ``request_not_found``.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.observe.feedback import owner_of
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable

_FIELDS = frozenset(("request_id", "score"))


def _monitor(app: Any) -> Any:
    monitor = app.services.slo
    if monitor is None:
        raise ServiceUnavailable("This gateway has no SLO monitor: add an slo: section to the config.",
                                 code="slo_off")
    return monitor


def _feedback(body: dict[str, Any]) -> tuple[str, float]:
    for name in body:
        if name not in _FIELDS:
            raise InvalidRequest(f"Unknown field {name[:64]!r}; the fields are request_id and score.",
                                 param=name[:64], code="invalid_value")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
        raise InvalidRequest("`request_id` must be the x-request-id of an answer (a string, 1 to 128 characters).",
                             param="request_id", code="invalid_value")
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
        raise InvalidRequest("`score` must be a number from 0 to 1.", param="score", code="invalid_value")
    return request_id, float(score)


def add_slo_routes(table: RouteTable, app: Any) -> None:
    async def report(request: Request) -> Response:
        await gateway_viewer(app, request)
        return json_response(_monitor(app).report())

    async def feedback(request: Request) -> Response:
        experiments = app.services.experiments
        monitor = app.services.slo if experiments is not None else _monitor(app)
        request_id, score = _feedback(parse_json_body(request.body))
        caller = request.caller
        owner = None if caller is None or caller.is_master else owner_of(caller)
        alias = monitor.feedback.score(request_id, score, owner) if monitor is not None else None
        variant = experiments.score(request_id, score, owner) if experiments is not None else None
        if alias is None and variant is not None:
            alias = variant[2]
        if alias is None:
            raise NotFound(f"No answer with request id {request_id!r} is remembered for this key "
                           "(too old, or never answered here).", param="request_id", code="request_not_found")
        metrics = app.services.metrics
        if metrics is not None:
            metrics.feedback(alias, score)
        answer: dict[str, Any] = {"object": "feedback", "request_id": request_id, "alias": alias, "score": score}
        if variant is not None:
            answer["experiment"], answer["variant"] = variant[0], variant[1]
        return json_response(answer)

    table.add("GET", "/admin/slo", Handler(report, authenticated=False, reads_body=False))
    table.add("POST", "/v1/feedback", Handler(feedback))
