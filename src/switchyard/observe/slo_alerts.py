"""SLO and breaker alerts on their way to the webhook.

The monitor decides *when* (one alert per breach, one per recovery); this only
delivers, through a ``WebhookQueue`` (``webhook.py``): ``send`` puts the alert on a
queue of ``capacity`` (full: dropped and counted, the request path never waits); one
task logs each (``slo_alert``, level warning) and POSTs it as JSON to the webhook —
three tries, then ``slo_alert_failed`` in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from switchyard.observe.webhook import TRIES, WebhookQueue

log = logging.getLogger("switchyard.slo")


class AlertSender:
    """Alerts go in (``send``), one task delivers them (``start``/``aclose``)."""

    def __init__(self, http: Any, webhook: str | None, *, timeout: float = 5.0, capacity: int = 1000) -> None:
        self.webhook = webhook
        self.queue: WebhookQueue[dict[str, Any]] = WebhookQueue(http, self._deliver, name="slo_alerts", log=log,
                                                               timeout=timeout, capacity=capacity)
        #: Alerts raised (each is logged; webhooks: ``queue.delivered``, ``dropped``, ``failed``).
        self.raised = 0

    def send(self, alert: dict[str, Any]) -> None:
        self.queue.put(alert)

    def start(self) -> None:
        self.queue.start()

    async def _deliver(self, alert: dict[str, Any]) -> None:
        self.raised += 1
        log.warning("slo_alert", extra={k: v for k, v in alert.items() if not isinstance(v, (dict, list))})
        if self.webhook is None:
            return
        status = await self.queue.post(self.webhook, alert)
        if status is not None:
            log.error("slo_alert_failed", extra={"alert": alert.get("type"), "status": status, "tries": TRIES})

    async def flushed(self) -> None:
        """Returns once every alert sent so far was delivered (or given up on)."""
        await self.queue.flushed()

    def status(self) -> dict[str, int]:
        queue = self.queue
        return {"raised": self.raised, "delivered": queue.delivered, "dropped": queue.dropped, "failed": queue.failed,
                "queued": queue.queued}

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Deliver what was sent (within ``drain_timeout``), then stop."""
        await self.queue.aclose(drain_timeout)
