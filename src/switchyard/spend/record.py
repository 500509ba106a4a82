"""``SpendRecord``: one request's spend — who, what, how much, how it went.

``key``, ``team`` and ``tenant`` are names (what reports show); ``key_id``,
``user`` and ``team_id`` the directory's ids of a virtual key's caller (None
for a static key), by which a key holder, a member or a team admin sees only
their own spend. Made once per call when it settles (``SpendRecord.of(call, now)``), never
updated afterwards: the spend log only appends. (A frozen ``msgspec`` struct: built in C,
a fraction of a dataclass's cost per request, and untracked by the garbage collector, so a
full in-memory store costs it nothing.) Tokens are counted the OpenAI
way (``core.messages.Usage``); a detail the upstream did not report is None.
A cached or coalesced answer made no upstream call of its own: its tokens
and cost are 0 (the request that made the call carries them, once).
``priced`` is False for a model nobody bills or the price table does not know
(its ``cost_usd`` is 0); ``estimated`` is True when the usage is the gateway's
own count (a stream that ended without the upstream's usage).
"""

from __future__ import annotations

import time
from operator import attrgetter
from typing import Any

import msgspec

from switchyard.auth import Caller
from switchyard.core.call import Call
from switchyard.core.errors import outcome

#: What a report may group by, and the record field it reads.
GROUPS: dict[str, str] = {"key": "key", "user": "user", "team": "team", "tenant": "tenant", "alias": "alias",
                          "model": "model", "deployment": "deployment", "provider": "provider"}
#: Time series: a report may group by these too, each row one interval (its start, epoch seconds),
#: oldest first (the newest ``limit`` of them).
INTERVALS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
#: Everything ``group_by`` takes.
GROUP_BY: tuple[str, ...] = (*GROUPS, *INTERVALS)


class SpendRecord(msgspec.Struct, frozen=True, gc=False):
    at: float
    request_id: str
    key: str | None
    key_id: str | None
    user: str | None
    team: str | None
    team_id: str | None
    tenant: str | None
    alias: str | None
    model: str | None
    deployment: str | None
    provider: str | None
    kind: str
    stream: bool
    status: int
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float
    priced: bool
    estimated: bool
    latency_ms: float | None
    cached: bool
    coalesced: bool

    @classmethod
    def of(cls, call: Call, now: float) -> SpendRecord:
        caller = call.caller
        usage = call.usage
        deployment = call.deployment
        error = call.error
        status, code = (200, None) if error is None else outcome(error)
        if usage is None or call.cached or call.coalesced:  # no upstream call of its own: nothing used
            prompt = completion = 0
            cached = written = reasoning = None
        else:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            cached, written, reasoning = usage.cached_tokens, usage.cache_write_tokens, usage.reasoning_tokens
        if deployment is None:
            model = deployment_id = provider = None
            priced = False
        else:
            config = deployment.config  # (``upstream_model`` and ``provider_name`` read it)
            model, deployment_id, provider = config.model, deployment.id, config.provider
            priced = deployment.price.priced
        started = call.started
        if type(caller) is Caller:
            name, key_id, user_id, team, team_id, tenant = _WHO(caller)
        else:  # no key (auth off), or a caller of another kind: what it has
            name, key_id, user_id, team, team_id, tenant = (
                getattr(caller, "name", None), getattr(caller, "key_id", None), getattr(caller, "user_id", None),
                getattr(caller, "team", None), getattr(caller, "team_id", None), getattr(caller, "tenant", None))
        return cls(
            now, call.request_id, name, key_id, user_id, team, team_id, tenant, call.alias, model, deployment_id,
            provider, call.kind._value_, call.stream, status, code, prompt, completion, cached, written, reasoning,
            call.cost or 0.0, priced, call.estimated,
            (time.perf_counter() - started) * 1000.0 if started else None,
            call.cached, call.coalesced,
        )

    def row(self) -> dict[str, Any]:
        """The record as a table row (column name -> value)."""
        return {name: getattr(self, name) for name in COLUMNS}

    def values(self) -> tuple[Any, ...]:
        """The record's values in ``COLUMNS`` order."""
        return _VALUES(self)


COLUMNS: tuple[str, ...] = SpendRecord.__struct_fields__
#: Who a ``Caller`` is, in the record's order.
_WHO = attrgetter("name", "key_id", "user_id", "team", "team_id", "tenant")
_VALUES = attrgetter(*COLUMNS)
