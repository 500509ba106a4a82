"""The audit log: admin actions and request metadata, hash-chained, written in batches.

``AuditLog.admin(...)`` records a change (who, what, before/after, when, from
where); with ``audit.requests`` the request stage ``pipeline/stages/settled.py`` has every
call recorded when it settles (``Call.on_settle``); the guard stage records what it
found in a call (``guarded``: categories and counts, never the values). Neither waits for the
database: entries go through a bounded ``Appender`` (``storage/appender.py``)
and reach the store a batch at a time, chained (``audit/chain.py``).
Under ``overflow: block`` a full buffer makes the request wait for room;
nothing acknowledged is lost, and ``aclose`` writes everything still buffered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from switchyard.audit.chain import Entry, Verdict, verify
from switchyard.audit.store import AuditStore, Query
from switchyard.core.call import Call
from switchyard.core.config.audit import AuditConfig
from switchyard.core.errors import outcome
from switchyard.storage.appender import Appender

if TYPE_CHECKING:
    from switchyard.audit.sealing import Sealer

log = logging.getLogger("switchyard.audit")

DAY = 86_400.0


class AuditLog:
    """Owns the audit store's writer; ``start()`` it, ``aclose()`` it."""

    def __init__(self, store: AuditStore, config: AuditConfig, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        key = config.encryption_key
        self.sealer: Sealer | None = None
        if config.include_bodies and key is not None:
            from switchyard.audit.sealing import Sealer  # cryptography: loaded only when bodies are kept

            self.sealer = Sealer(key.get_secret_value())
        self.writer: Appender[Entry] = Appender(store.append, name="audit", capacity=config.buffer,
                                                overflow=config.overflow)
        self._retention: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        #: Set after each retention round (for whoever must know the old entries are gone).
        self.pruned = asyncio.Event()

    def start(self) -> None:
        self.writer.start()
        if self.config.retention_days is not None and self._retention is None:
            self._retention = asyncio.get_running_loop().create_task(self._prune_daily(), name="audit-retention")

    async def _prune_daily(self) -> None:
        """Retention: prune at start, then once a day, until closed."""
        while True:
            try:
                removed = await self.prune()
                if removed:
                    log.info("audit_pruned", extra={"entries": removed, "days": self.config.retention_days})
            except Exception as exc:  # the database is away: try again tomorrow, say so today
                log.warning("audit_prune_failed", extra={"error": type(exc).__name__})
            self.pruned.set()
            try:
                await asyncio.wait_for(self._closed.wait(), DAY)
                return
            except TimeoutError:
                continue

    async def aclose(self) -> None:
        self._closed.set()
        if self._retention is not None:
            self._retention.cancel()
            await asyncio.gather(self._retention, return_exceptions=True)
        await self.writer.aclose()
        await self.store.aclose()

    async def admin(self, actor: str, action: str, target: str | None = None, *, before: Any = None,
                    after: Any = None, source: str | None = None, role: str | None = None) -> None:
        """Record one admin change; returns once the entry is accepted (buffered)."""
        detail: dict[str, Any] = {"before": before, "after": after}
        if role is not None:
            detail["role"] = role
        await self._put(Entry(self.clock(), "admin", actor, action, target, source, detail))

    async def _put(self, entry: Entry) -> None:
        if not await self.writer.put(entry):
            log.warning("audit_entry_dropped", extra={"action": entry.action, "dropped": self.writer.dropped})

    async def record_call(self, call: Call) -> None:
        """A settler (``Call.on_settle``): the call's metadata as a ``request`` entry."""
        caller = call.caller
        usage = call.usage
        status, code = outcome(call.error)
        detail: dict[str, Any] = {
            "request_id": call.request_id, "alias": call.alias, "deployment": call.route.get("deployment"),
            "kind": call.kind.value, "stream": call.stream, "status": status,
            "latency_ms": round((time.perf_counter() - call.started) * 1000.0, 2) if call.started else None,
        }
        if code is not None:
            detail["error"] = code
        if usage is not None:
            detail["prompt_tokens"] = usage.prompt_tokens
            detail["completion_tokens"] = usage.completion_tokens
        body = getattr(call.request, "body", None)  # the request as the client sent it (validated)
        if self.sealer is not None and body is not None:
            detail["body"] = self.sealer.seal(orjson.dumps(body, default=str), call.request_id)
        actor = getattr(caller, "name", None) or "anonymous"
        await self._put(Entry(self.clock(), "request", actor, "request", call.alias, None, detail))

    async def guarded(self, call: Call, outcome: str, detail: dict[str, Any]) -> None:
        """A ``guard`` entry: what the guard found in a call and did (categories and counts,
        never a value); ``outcome`` is the action (``guard.masked``, ``guard.blocked``...)."""
        actor = getattr(call.caller, "name", None) or "anonymous"
        await self._put(Entry(self.clock(), "guard", actor, outcome, call.alias,
                              None, {"request_id": call.request_id, **detail}))

    async def tool_call(self, actor: str, tool: str, detail: dict[str, Any], source: str | None = None) -> None:
        """One MCP tool call (``mcp/hub.py``): who, which tool, its redacted arguments, duration, outcome."""
        await self._put(Entry(self.clock(), "tool", actor, "tool.call", tool, source, detail))

    async def query(self, query: Query) -> list[dict[str, Any]]:
        """Entries matching ``query``, as the admin API shows them."""
        await self.writer.flushed()
        out = []
        for row in await self.store.query(query):
            entry = row.entry()
            out.append({"id": row.id, "at": entry.at, "kind": entry.kind, "actor": entry.actor,
                        "action": entry.action, "target": entry.target, "source": entry.source,
                        "detail": entry.detail, "hash": row.hash})
        return out

    async def verify(self) -> Verdict:
        await self.writer.flushed()
        return await verify(await self.store.head(), self.store.scan())

    async def prune(self) -> int:
        """Remove entries older than ``retention_days`` (0 when unset)."""
        days = self.config.retention_days
        if days is None:
            return 0
        await self.writer.flushed()
        return await self.store.prune(self.clock() - days * DAY)
