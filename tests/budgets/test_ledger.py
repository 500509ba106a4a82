"""The budget ledger over the store's counters: refused once spend exceeds the budget, never before;
reservations seen by concurrent requests and released on refusal; resets by an injected clock;
alerts once per period; what happens when the counters cannot be reached."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from switchyard.budgets import BudgetAlerts, BudgetLedger, BudgetLimit
from switchyard.core.call import Call
from switchyard.core.config import Budget
from switchyard.core.errors import BudgetExceeded, ServiceUnavailable
from switchyard.storage import open_store
from switchyard.storage.counting import WindowCounters
from switchyard.storage.limits.sliding import SlidingMemoryBackend
from switchyard.storage.memory import MemoryKV
from switchyard.storage.migrate import upgrade
from switchyard.transport.client import HttpClient

DAY = 86_400.0
NOV_26 = 1_795_651_200.0  # 2026-11-26T00:00:00Z


def _limit(amount: float, scope: str = "key", subject: str = "k1", **terms: Any) -> BudgetLimit:
    return BudgetLimit(scope, subject, subject, Budget(amount=amount, **terms))  # type: ignore[arg-type]


def _call(cost: float | None) -> Call:
    call = Call("r")
    call.cost = cost
    return call


async def _spend(ledger: BudgetLedger, limits: list[BudgetLimit], cost: float) -> None:
    holds = await ledger.reserve(limits, cost)
    await holds.settle(_call(cost))


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request, tmp_path) -> str:
    """Every store whose counters can hold budgets: in this process, a SQLite file, the real Redis."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'budgets.db'}"
        asyncio.run(upgrade(url))
        return url
    return f"{request.getfixturevalue('redis_url')}?prefix={request.getfixturevalue('redis_prefix')}"


def _open(url: str) -> Any:
    if "?prefix=" in url:
        url, prefix = url.split("?prefix=")
        return open_store(url, prefix=prefix)
    return open_store(url)


def test_refused_once_spend_exceeds_the_budget_never_before(store_url):
    async def run() -> list[bool]:
        store = _open(store_url)
        try:
            ledger = BudgetLedger(store.counters)
            key = [_limit(1.0, period="daily")]
            admitted = []
            for _ in range(7):
                try:
                    await _spend(ledger, key, 0.25)
                    admitted.append(True)
                except BudgetExceeded:
                    admitted.append(False)
            return admitted
        finally:
            await store.aclose()

    # 0, .25, .5, .75 and 1.0 spent before each: admitted (1.0 has not exceeded $1); 1.25: refused.
    assert asyncio.run(run()) == [True, True, True, True, True, False, False]


def test_a_refusal_says_which_budget_when_it_resets_and_that_it_is_final():
    async def run() -> BudgetExceeded:
        ledger = BudgetLedger(open_store("memory://").counters, clock=lambda: NOV_26 + 3600)
        team = [_limit(0.5, "team", "t1", period="daily")]
        await _spend(ledger, team, 0.6)
        with pytest.raises(BudgetExceeded) as refused:
            await ledger.reserve(team, 0.01)
        return refused.value

    error = asyncio.run(run())
    assert error.status == 429 and error.type == "insufficient_quota" and error.code == "budget_exceeded"
    assert "team `t1`" in error.message and "$0.50" in error.message and "2026-11-27T00:00:00+00:00" in error.message
    headers = error.response_headers()
    assert headers["x-should-retry"] == "false" and headers["x-switchyard-budget"] == "team=t1 daily"
    assert headers["retry-after"] == str(int(DAY - 3600))


def test_in_flight_reservations_count_and_a_settle_gives_back_the_difference():
    async def run() -> None:
        ledger = BudgetLedger(open_store("memory://").counters)
        key = [_limit(1.0)]
        first = await ledger.reserve(key, 0.6)
        second = await ledger.reserve(key, 0.6)  # 0.6 counted before it: still under $1
        with pytest.raises(BudgetExceeded):
            await ledger.reserve(key, 0.01)  # 1.2 in flight
        await first.settle(_call(0.1))
        await second.settle(_call(None))  # failed: refunded
        third = await ledger.reserve(key, 0.5)
        assert third.room == pytest.approx(1.0 - 0.1 - 0.5)

    asyncio.run(run())


def test_a_refused_budget_releases_what_the_others_reserved(store_url):
    async def run() -> None:
        store = _open(store_url)
        try:
            ledger = BudgetLedger(store.counters)
            key, team, tenant = _limit(1.0, "key", "k1"), _limit(0.2, "team", "t1"), _limit(5.0, "tenant", "a")
            await _spend(ledger, [team], 0.3)
            for _ in range(5):
                with pytest.raises(BudgetExceeded, match="team"):
                    await ledger.reserve([key, team, tenant], 0.4)
            # Nothing stayed reserved on the key: $1 is still all there (spent 0 before: admitted, room 0).
            holds = await ledger.reserve([key, tenant], 1.0)
            assert holds.room == pytest.approx(0.0) and holds.tightest == key
            await holds.settle(_call(0.5))
            after = await ledger.reserve([key, tenant], 0.0)  # the settle reached every budget held
            assert [r.left for _, r in after.held] == pytest.approx([0.5, 4.5])
        finally:
            await store.aclose()

    asyncio.run(run())


def test_a_calendar_period_resets_on_the_injected_clock():
    async def run() -> None:
        now = [NOV_26 + DAY - 1]  # 23:59:59 UTC
        ledger = BudgetLedger(open_store("memory://").counters, clock=lambda: now[0])
        daily = [_limit(1.0, period="daily")]
        await _spend(ledger, daily, 1.5)
        with pytest.raises(BudgetExceeded):
            await ledger.reserve(daily, 0.1)
        now[0] += 1.0  # midnight: a new day, a new counter
        await _spend(ledger, daily, 0.9)
        now[0] -= 2.0  # yesterday's counter is still spent
        with pytest.raises(BudgetExceeded):
            await ledger.reserve(daily, 0.1)

    asyncio.run(run())


def test_a_rolling_budget_frees_spend_as_it_ages():
    async def run() -> None:
        now = [1000.0]
        counters = WindowCounters(SlidingMemoryBackend(clock=lambda: now[0]))
        ledger = BudgetLedger(counters)
        rolling = [_limit(1.0, period="rolling", window="1h")]
        await _spend(ledger, rolling, 0.7)
        now[0] += 1800
        await _spend(ledger, rolling, 0.7)
        with pytest.raises(BudgetExceeded) as refused:
            await ledger.reserve(rolling, 0.1)
        assert "rolling window" in refused.value.message
        assert 1800 - 10 <= refused.value.retry_after <= 1800 + 10  # when the first spend leaves
        now[0] += 1800 + 3.6 + 1  # the first spend has left (at most one slot, 3.6 s, late)
        await _spend(ledger, rolling, 0.2)

    asyncio.run(run())


class _Webhook(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        self.server.bodies.append(orjson.loads(self.rfile.read(int(self.headers["content-length"]))))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.bodies = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.bodies  # type: ignore[attr-defined]
    server.shutdown()


def test_soft_thresholds_and_exhaustion_alert_once_per_period(webhook):
    url, bodies = webhook

    async def run() -> BudgetAlerts:
        now = [NOV_26 + 10]
        store = open_store("memory://")
        async with HttpClient() as http:
            alerts = BudgetAlerts(store.kv, http)
            alerts.start()
            ledger = BudgetLedger(store.counters, alerts, clock=lambda: now[0])
            budget = [_limit(1.0, "tenant", "acme", period="daily", soft=[0.5, 0.8], webhook=url)]
            for _ in range(8):  # spends 0.3 a time: 0, .3, .6, .9, 1.2 (refused from there)
                try:
                    await _spend(ledger, budget, 0.3)
                except BudgetExceeded:
                    pass
            await alerts.flushed()
            now[0] += DAY  # the next day: spent again past one threshold, alerted again
            for _ in range(3):
                await _spend(ledger, budget, 0.3)
            await alerts.flushed()
            await alerts.aclose()
        return alerts

    alerts = asyncio.run(run())
    kinds = [(b["type"], b["threshold"], b["period_label"]) for b in bodies]
    assert kinds == [("budget.threshold", 0.5, "2026-11-26"), ("budget.threshold", 0.8, "2026-11-26"),
                     ("budget.exceeded", None, "2026-11-26"), ("budget.threshold", 0.5, "2026-11-27")]
    first = bodies[0]
    assert first["scope"] == "tenant" and first["name"] == "acme" and first["amount_usd"] == 1.0
    assert first["spent_usd"] == pytest.approx(0.6) and first["resets_at"] == "2026-11-27T00:00:00+00:00"
    assert alerts.delivered == 4 and alerts.failed == 0 and alerts.dropped == 0


def test_replicas_sharing_a_store_send_an_alert_once(webhook):
    url, bodies = webhook

    async def run() -> None:
        kv = MemoryKV(1000)  # one store's kv, two processes' alert senders
        async with HttpClient() as http:
            senders = [BudgetAlerts(kv, http), BudgetAlerts(kv, http)]
            for sender in senders:
                sender.start()
                sender.offer("budget:key:k:daily:2026-11-26:alert:0.5", 100.0, {"type": "budget.threshold"}, url)
            for sender in senders:
                await sender.flushed()
                await sender.aclose()

    asyncio.run(run())
    assert len(bodies) == 1


def test_unreachable_counters_refuse_or_admit_as_configured():
    async def run(on_error: str) -> None:
        store = open_store("redis://127.0.0.1:9/0", connect_timeout=0.2, operation_timeout=0.2)
        try:
            ledger = BudgetLedger(store.counters, on_error=on_error)
            holds = await ledger.reserve([_limit(1.0)], 0.1)
            assert holds.held == []  # admitted uncounted
        finally:
            await store.aclose()

    with pytest.raises(ServiceUnavailable) as down:
        asyncio.run(run("closed"))
    assert down.value.status == 503 and down.value.code == "budget_backend_unreachable"
    asyncio.run(run("open"))
