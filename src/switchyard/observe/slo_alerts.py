"""SLO and breaker alerts on their way to the webhook: a bounded queue and one sender.

The monitor decides *when* (one alert per breach, one per recovery); this only
delivers. ``send`` puts the alert on a queue of ``capacity`` (full: dropped and
counted, the request path never waits); one task logs each (``slo_alert``,
level warning) and POSTs it as JSON to the webhook — three tries, then
``slo_alert_failed`` in the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

log = logging.getLogger("switchyard.slo")

TRIES = 3


class AlertSender:
    """Alerts go in (``send``), one task delivers them (``start``/``aclose``)."""

    def __init__(self, http: Any, webhook: str | None, *, timeout: float = 5.0, capacity: int = 1000) -> None:
        self.http = http
        self.webhook = webhook
        self.timeout = timeout
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        #: Alerts raised, webhooks answered 2xx, alerts dropped (full queue), webhooks given up on.
        self.raised = 0
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def send(self, alert: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="slo-alerts")

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            except Exception:
                log.exception("slo_alert_error")
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: dict[str, Any]) -> None:
        self.raised += 1
        log.warning("slo_alert", extra={k: v for k, v in alert.items() if not isinstance(v, (dict, list))})
        if self.webhook is None:
            return
        body = orjson.dumps(alert)
        delay = 0.2
        status: int | str = ""
        for attempt in range(TRIES):
            try:
                response = await self.http.request("POST", self.webhook, body=body, timeout=self.timeout,
                                                   headers={"content-type": "application/json"})
                code: int = response.status
                status = code
                if 200 <= code < 300:
                    self.delivered += 1
                    return
            except Exception as exc:
                status = type(exc).__name__
            if attempt + 1 < TRIES:
                await asyncio.sleep(delay)
                delay *= 4
        self.failed += 1
        log.error("slo_alert_failed", extra={"alert": alert.get("type"), "status": status, "tries": TRIES})

    async def flushed(self) -> None:
        """Returns once every alert sent so far was delivered (or given up on)."""
        await self._queue.join()

    def status(self) -> dict[str, int]:
        return {"raised": self.raised, "delivered": self.delivered, "dropped": self.dropped, "failed": self.failed,
                "queued": self._queue.qsize()}

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Deliver what was sent (within ``drain_timeout``), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_timeout)
        except TimeoutError:
            log.warning("slo_alerts_unsent", extra={"alerts": self._queue.qsize()})
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
