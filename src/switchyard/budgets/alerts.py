"""Budget alerts — a soft threshold crossed, a budget spent — once per period.

The request path only *offers* an alert: a set lookup and a put on a bounded
queue. One background task takes them in turn: it marks the alert as sent in
the store (``kv.set_if_absent`` until the period ends, so among replicas
sharing Redis exactly one sends it), logs it (``budget_alert``, level
warning), and POSTs it as JSON to the budget's webhook — three tries, then
``budget_alert_failed`` in the log. A full queue drops the offer and counts it
(``dropped``); a process asks the store about one alert once at most.

The body::

    {"type": "budget.threshold" | "budget.exceeded", "scope": "key", "subject": "...",
     "name": "team-a", "period": "monthly", "period_label": "2026-11",
     "resets_at": "2026-12-01T00:00:00+00:00" | null, "amount_usd": 50.0,
     "spent_usd": 40.2, "threshold": 0.8 | null, "at": "2026-11-26T07:10:26+00:00"}
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from switchyard.storage.protocols import KeyValue

log = logging.getLogger("switchyard.budgets")

#: Offers remembered per process (the store is asked once per alert); cleared when full.
MAX_OFFERED = 10_000
TRIES = 3


@dataclass(frozen=True, slots=True)
class Alert:
    marker: str
    ttl: float
    payload: dict[str, Any]
    webhook: str | None


class BudgetAlerts:
    """Offers go in (``offer``), one task sends them (``start``/``aclose``)."""

    def __init__(self, kv: KeyValue, http: Any, *, timeout: float = 5.0, capacity: int = 1000) -> None:
        self.kv = kv
        self.http = http
        self.timeout = timeout
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(capacity)
        self._offered: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        #: Alerts logged (once per period each), webhooks answered 2xx, offers dropped, webhooks given up on.
        self.raised = 0
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def offer(self, marker: str, ttl: float, payload: dict[str, Any], webhook: str | None) -> None:
        """Raise this alert unless it was raised before (``marker`` names it and its period)."""
        offered = self._offered
        if marker in offered:
            return
        if len(offered) >= MAX_OFFERED:
            offered.clear()
        offered.add(marker)
        try:
            self._queue.put_nowait(Alert(marker, ttl, payload, webhook))
        except asyncio.QueueFull:
            self.dropped += 1
            offered.discard(marker)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="budget-alerts")

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._raise(alert)
            except Exception:
                log.exception("budget_alert_error")
            finally:
                self._queue.task_done()

    async def _raise(self, alert: Alert) -> None:
        try:
            first = await self.kv.set_if_absent(alert.marker, b"1", ttl=max(1.0, alert.ttl))
        except Exception as exc:  # the store is away: better twice than never
            log.warning("budget_alert_store_unreachable", extra={"error": type(exc).__name__})
            first = True
        if not first:
            return
        self.raised += 1
        payload = alert.payload
        log.warning("budget_alert", extra={
            "alert": payload.get("type"), "budget": f"{payload.get('scope')}={payload.get('name')}",
            "period_label": payload.get("period_label"), "threshold": payload.get("threshold"),
            "spent_usd": payload.get("spent_usd"), "amount_usd": payload.get("amount_usd")})
        if alert.webhook is None:
            return
        body = orjson.dumps(alert.payload)
        delay = 0.2
        for attempt in range(TRIES):
            status: int | str
            try:
                response = await self.http.request("POST", alert.webhook, body=body, timeout=self.timeout,
                                                   headers={"content-type": "application/json"})
                status = response.status
                if 200 <= response.status < 300:
                    self.delivered += 1
                    return
            except Exception as exc:
                status = type(exc).__name__
            if attempt + 1 < TRIES:
                await asyncio.sleep(delay)
                delay *= 4
        self.failed += 1
        log.error("budget_alert_failed", extra={"alert": payload.get("type"), "status": status, "tries": TRIES,
                                                "budget": f"{payload.get('scope')}={payload.get('name')}"})

    async def flushed(self) -> None:
        """Returns once every alert offered so far has been raised (or given up on)."""
        await self._queue.join()

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Raise what was offered (within ``drain_timeout``), then stop."""
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_timeout)
        except TimeoutError:
            log.warning("budget_alerts_unsent", extra={"alerts": self._queue.qsize()})
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._task = None
