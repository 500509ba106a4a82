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

import logging
from dataclasses import dataclass
from typing import Any

from switchyard.observe.webhook import TRIES, WebhookQueue
from switchyard.storage.protocols import KeyValue

log = logging.getLogger("switchyard.budgets")

#: Offers remembered per process (the store is asked once per alert); cleared when full.
MAX_OFFERED = 10_000


@dataclass(frozen=True, slots=True)
class Alert:
    marker: str
    ttl: float
    payload: dict[str, Any]
    webhook: str | None


class BudgetAlerts:
    """Offers go in (``offer``), one task sends them (``start``/``aclose``), through a
    ``WebhookQueue`` (``observe/webhook.py``)."""

    def __init__(self, kv: KeyValue, http: Any, *, timeout: float = 5.0, capacity: int = 1000) -> None:
        self.kv = kv
        self.queue: WebhookQueue[Alert] = WebhookQueue(http, self._raise, name="budget_alerts", log=log,
                                                       timeout=timeout, capacity=capacity)
        self._offered: set[str] = set()
        #: Alerts logged (once per period each); webhooks: ``queue.delivered``, ``dropped``, ``failed``.
        self.raised = 0

    @property
    def delivered(self) -> int:
        return self.queue.delivered

    @property
    def dropped(self) -> int:
        return self.queue.dropped

    @property
    def failed(self) -> int:
        return self.queue.failed

    def offer(self, marker: str, ttl: float, payload: dict[str, Any], webhook: str | None) -> None:
        """Raise this alert unless it was raised before (``marker`` names it and its period)."""
        offered = self._offered
        if marker in offered:
            return
        if len(offered) >= MAX_OFFERED:
            offered.clear()
        offered.add(marker)
        if not self.queue.put(Alert(marker, ttl, payload, webhook)):
            offered.discard(marker)

    def start(self) -> None:
        self.queue.start()

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
        status = await self.queue.post(alert.webhook, payload)
        if status is not None:
            log.error("budget_alert_failed", extra={"alert": payload.get("type"), "status": status, "tries": TRIES,
                                                    "budget": f"{payload.get('scope')}={payload.get('name')}"})

    async def flushed(self) -> None:
        """Returns once every alert offered so far has been raised (or given up on)."""
        await self.queue.flushed()

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Raise what was offered (within ``drain_timeout``), then stop."""
        await self.queue.aclose(drain_timeout)
