"""``POST /v1/agents/{name}`` (run an agent of ``agents:``) and ``POST /v1/agent_decisions``
(approve or refuse a tool call waiting for a person); without an ``agents:`` section both
answer 503 ``agents_off``.

A run's body::

    {"input": "Where is my order A1?", "session": "s1", "user": "ann", "stream": true}

``input`` is a string or a list of chat messages; ``session`` (optional) keeps the
conversation across runs — per key: two keys never share a session; ``user`` scopes
long-term memory (a key tied to a user always runs as that user). The run's model calls
are the calling key's (its allowlist, limits, budgets, spend). The answer is the run's
result (``object: "agent.run"``, ``status`` ``completed`` or ``stopped`` with
``stopped_by`` naming the limit), or with ``stream: true`` server-sent events, one per
agent event (``text_delta``, ``tool_call``, ``tool_result``, ``handoff``,
``approval_requested``, ``usage``), then ``finished`` (or ``stopped``), then ``[DONE]``.

A decision's body: ``{"agent": "support", "key": "<approval_requested.key>", "approved": true,
"reason": "ok"}``. Approvals wait in this process (``InProcessSteps``): send the decision
to the replica that runs the agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from switchyard.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.server.http import Request, Response, StreamResponse, json_response, openai_error_frame
from switchyard.server.routes import Handler, RouteTable

_RUN_FIELDS = frozenset(("input", "session", "user", "stream"))
_DECISION_FIELDS = frozenset(("agent", "key", "approved", "reason"))
MAX_INPUT = 1_000_000


def _catalog(app: Any) -> Any:
    if app.config.agents is None:
        raise ServiceUnavailable("This gateway has no agents: add an agents: section to the config.",
                                 code="agents_off")
    catalog = app.agents
    if catalog is None:
        raise ServiceUnavailable("The agents are starting or stopping.")
    return catalog


def _agent(app: Any, name: str) -> Any:
    from switchyard.agents.catalog import AgentNotFound

    try:
        return _catalog(app).get(name)
    except AgentNotFound as exc:
        raise NotFound(str(exc.args[0]), param="name", code="agent_not_found") from None


def _unknown(body: dict[str, Any], known: frozenset[str]) -> None:
    for name in body:
        if name not in known:
            raise InvalidRequest(f"Unknown field {name[:64]!r}; the fields are {', '.join(sorted(known))}.",
                                 param=name[:64], code="invalid_value")


def _run_options(body: dict[str, Any], caller: Any) -> tuple[Any, dict[str, Any], bool]:
    _unknown(body, _RUN_FIELDS)
    text = body.get("input")
    if isinstance(text, str):
        if not text.strip() or len(text) > MAX_INPUT:
            raise InvalidRequest(f"`input` must be a non-empty string of at most {MAX_INPUT} characters.",
                                 param="input", code="invalid_value")
    elif not (isinstance(text, list) and text and all(isinstance(m, dict) and "role" in m for m in text)):
        raise InvalidRequest("`input` must be a string or a non-empty list of chat messages.", param="input",
                             code="invalid_value")
    options: dict[str, Any] = {}
    for name in ("session", "user"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 200):
            raise InvalidRequest(f"`{name}` must be a string of 1 to 200 characters.", param=name,
                                 code="invalid_value")
    owner = "master" if caller is None or caller.is_master else (caller.key_id or caller.name)
    if body.get("session") is not None:
        options["session"] = f"{caller.tenant if caller is not None else None}/{owner}/{body['session']}"
    user = getattr(caller, "user_id", None) or body.get("user")
    options["user"] = user
    options["tenant"] = getattr(caller, "tenant", None)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("`stream` must be true or false.", param="stream", code="invalid_value")
    return text, options, stream


def _run_body(result: Any, stopped_by: str | None = None) -> dict[str, Any]:
    return {"object": "agent.run", "status": "stopped" if stopped_by else "completed", "stopped_by": stopped_by,
            **result.to_dict()}


def add_agent_routes(table: RouteTable, app: Any) -> None:
    async def run(request: Request) -> Response | StreamResponse:
        from switchyard.agents import LimitReached
        from switchyard.agents.pipeline_client import PipelineClient

        agent = _agent(app, request.path_params["name"])
        text, options, stream = _run_options(parse_json_body(request.body), request.caller)
        client = PipelineClient(app.services, request.caller, app.request_ids)
        traceparent = request.headers.get("traceparent")
        if stream:
            return StreamResponse(_events(agent, text, options, client, traceparent), error_frame=openai_error_frame)
        try:
            result = await agent.run(text, client=client, traceparent=traceparent, **options)
        except LimitReached as exc:
            return json_response(_run_body(exc.result, exc.limit))
        return json_response(_run_body(result))

    async def decide(request: Request) -> Response:
        body = parse_json_body(request.body)
        _unknown(body, _DECISION_FIELDS)
        agent = _agent(app, str(body.get("agent") or ""))
        key, approved = body.get("key"), body.get("approved")
        if not isinstance(key, str) or not 1 <= len(key) <= 512:
            raise InvalidRequest("`key` must be the approval_requested event's key.", param="key", code="invalid_value")
        if not isinstance(approved, bool):
            raise InvalidRequest("`approved` must be true or false.", param="approved", code="invalid_value")
        reason = body.get("reason") or ""
        if not isinstance(reason, str) or len(reason) > 500:
            raise InvalidRequest("`reason` must be a string of at most 500 characters.", param="reason",
                                 code="invalid_value")
        await agent.decide(key, approved, reason)
        return json_response({"object": "agent.decision", "key": key, "approved": approved})

    table.add("POST", "/v1/agents/{name}", Handler(run))
    table.add("POST", "/v1/agent_decisions", Handler(decide))


async def _events(agent: Any, text: Any, options: dict[str, Any], client: Any,
                  traceparent: str | None) -> AsyncIterator[bytes]:
    from switchyard.agents import LimitReached, event_dict

    try:
        async for event in agent.stream(text, client=client, traceparent=traceparent, **options):
            yield b"data: " + orjson.dumps(event_dict(event)) + b"\n\n"
    except LimitReached as exc:
        yield b"data: " + orjson.dumps({"type": "stopped", "result": _run_body(exc.result, exc.limit)}) + b"\n\n"
