"""``BudgetLedger``: a request's estimated cost reserved against every budget of its
caller before the call, corrected to the real cost after it.

The rule: a request is admitted while each of its budgets' counted spend — what
was settled, plus the reservations of the requests in flight — is at most the
budget, and in the same atomic step it reserves its own estimate, which every
other request on every replica then sees. A budget is therefore refused once
spend exceeds it, never before; the last request admitted may take spend past
it by that request's own cost, and no request after it is admitted. In the
store's counter terms it is ``reserve(key, estimate, limit=amount + estimate,
window)``: "spend + estimate ≤ amount + estimate" — one Lua script in Redis when
the counters are shared, so the overspend stays within one request's cost
however many gateway processes serve the key, as long as estimates bound the
real costs (they are prompt plus ``max_tokens``, with a margin: the budget stage).

A caller's budgets (key, user, team, tenant) are reserved together — all or
none, in one script — where the counters can (memory, Redis: ``reserve_all``),
else in turn, a refusal giving back what the earlier ones reserved. ``Holds.settle`` corrects every
reservation to the call's real cost (``call.cost``; 0 after a failure, which
refunds it) — once, when the pipeline settles the call: a reservation never
outlives its request. The counter keys and their windows are ``periods.py``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from switchyard.budgets.alerts import BudgetAlerts
from switchyard.budgets.limit import BudgetLimit
from switchyard.budgets.periods import Periods, Span
from switchyard.core.call import Call
from switchyard.core.errors import BudgetExceeded, ServiceUnavailable
from switchyard.storage.protocols import Counters, Refusal, Reservation

log = logging.getLogger("switchyard.budgets")

#: Budgets whose span and counter key are kept between requests.
MAX_SPANS = 10_000


def dollars(amount: float) -> str:
    """``$1,250.00``, ``$0.50``, ``$0.0001``: cents when there are any to show, else what there is."""
    return f"${amount:,.2f}" if amount >= 0.01 else f"${amount:.4g}"


def counter_key(limit: BudgetLimit, span: Span) -> str:
    """``budget:key:<subject>:monthly:2026-11`` — one counter per budget and period."""
    return f"budget:{limit.scope}:{limit.subject}:{limit.budget.period}:{span.label}"


class Holds(msgspec.Struct, gc=False):
    """What one request reserved against each of its budgets; ``settle`` (a settler) once.
    (A struct: made in C, one per budgeted request; nothing it holds refers back to it, so
    the garbage collector need not track it.)"""

    counters: Counters
    held: list[tuple[BudgetLimit, Reservation]]
    #: The estimate reserved against every budget (US dollars).
    amount: float
    #: Dollars left in the tightest budget after this reservation (negative: it crossed it).
    room: float
    tightest: BudgetLimit | None

    def settler(self) -> Callable[[Call], Any]:
        """What to register with ``call.on_settle``: a plain function where the counters settle
        without awaiting (the in-process store), else the ``settle`` coroutine."""
        settles_now = getattr(self.counters, "settle_one_now", None) is not None
        return self.settle_now if settles_now and hasattr(self.counters, "settle_all_now") else self.settle

    def settle_now(self, call: Call) -> None:
        held = self.held
        if len(held) == 1:
            self.counters.settle_one_now(held[0][1], call.cost or 0.0)  # type: ignore[attr-defined]
        elif held:
            self.counters.settle_all_now([reservation for _, reservation in held], call.cost or 0.0)  # type: ignore[attr-defined]

    async def settle(self, call: Call) -> None:
        actual = call.cost or 0.0
        held = self.held
        if len(held) == 1:
            await self.counters.settle(held[0][1], actual)
            return
        settle_all = getattr(self.counters, "settle_all", None)
        if settle_all is not None:  # made together by ``reserve_all``: one correction
            if held:
                await settle_all([reservation for _, reservation in held], actual)
            return
        for _, reservation in held:
            await self.counters.settle(reservation, actual)


class BudgetLedger:
    """Reserves and settles spend in the store's ``Counters`` (see the module docstring).

    ``clock`` (epoch seconds) decides the calendar period — injectable, so period
    resets are testable; ``on_error`` says what happens while the counters cannot
    be reached: ``closed`` refuses budgeted requests with 503, ``open`` lets them
    through uncounted.
    """

    def __init__(self, counters: Counters, alerts: BudgetAlerts | None = None, *,
                 clock: Callable[[], float] = time.time, on_error: str = "closed") -> None:
        self.counters = counters
        self.alerts = alerts
        self.clock = clock
        self.periods = Periods(clock)
        self.on_error = on_error
        self._reserve_all = getattr(counters, "reserve_all", None)
        #: The in-process counters reserve without awaiting.
        self._reserve_now = getattr(counters, "reserve_all_now", None)
        #: ... and one counter without a list.
        self._reserve_one = getattr(counters, "reserve_one_now", None)
        #: Whether ``reserve_now`` works here (the counters reserve and settle without awaiting).
        self.reserves_now = (self._reserve_now is not None and getattr(counters, "settle_all_now", None) is not None
                             and getattr(counters, "settle_one_now", None) is not None)
        #: Each budget's current span and counter key, by the BudgetLimit object (kept while its span lasts).
        self._spans: dict[int, tuple[BudgetLimit, Span, str]] = {}

    def _counting(self, limit: BudgetLimit, now: float) -> tuple[BudgetLimit, Span, str]:
        found = self._spans.get(id(limit))
        if found is not None and found[0] is limit:
            span = found[1]
            if span.end is None or span.start <= now < span.end:  # type: ignore[operator]
                return found
        span = self.periods.current(limit.budget)
        if len(self._spans) >= MAX_SPANS:
            self._spans.clear()
        found = self._spans[id(limit)] = (limit, span, counter_key(limit, span))
        return found

    def reserve_now(self, limits: Sequence[BudgetLimit], amount: float) -> Holds:
        """``reserve`` where the counters answer without awaiting (``reserves_now``).

        Every request of a budgeted caller comes here (the in-process store), so it is
        written flat: each budget's span and key from ``_spans`` without a call while the
        span lasts, and the holds made here unless a budget was refused or has soft thresholds."""
        now = self.clock()
        spans = self._spans
        if len(limits) == 1 and self._reserve_one is not None:  # one budget (the usual case): no lists
            limit = limits[0]
            found = spans.get(id(limit))
            if found is None or found[0] is not limit:
                found = self._counting(limit, now)
            else:
                span = found[1]
                if span.end is not None and not span.start <= now < span.end:  # type: ignore[operator]
                    found = self._counting(limit, now)
            budget = limit.budget
            try:
                result = self._reserve_one(found[2], amount, budget.amount + amount, found[1].window)
            except Exception as exc:
                return self._unreachable([found], amount, exc)
            if budget.soft or type(result) is not Reservation:
                return self._held([found], result if type(result) is Refusal else [result], amount)
            return Holds(self.counters, [(limit, result)], amount, result.left - amount, limit)
        asks: list[tuple[str, float, float, float]] = []
        soft = False
        for limit in limits:
            found = self._counting(limit, now)
            budget = limit.budget
            asks.append((found[2], amount, budget.amount + amount, found[1].window))
            if budget.soft:
                soft = True
        try:
            results = self._reserve_now(asks)  # type: ignore[misc]
        except Exception as exc:
            return self._unreachable([self._counting(limit, now) for limit in limits], amount, exc)
        if soft or type(results) is not list:  # a refusal, or thresholds to look at (as counted just now)
            return self._held([self._counting(limit, now) for limit in limits], results, amount)
        room = float("inf")
        tightest: BudgetLimit | None = None
        for limit, reservation in zip(limits, results):
            left = reservation.left - amount
            if left < room:
                room, tightest = left, limit
        return Holds(self.counters, list(zip(limits, results)), amount, room, tightest)

    async def reserve(self, limits: Sequence[BudgetLimit], amount: float) -> Holds:
        """Reserve ``amount`` dollars against each budget, or raise ``BudgetExceeded``
        naming the first that is spent (nothing stays reserved then)."""
        if self._reserve_now is not None:
            return self.reserve_now(limits, amount)
        now = self.clock()
        asks = [self._counting(limit, now) for limit in limits]
        reserve_all = self._reserve_all
        try:
            if reserve_all is not None:  # every budget in one atomic step (one Lua script in Redis)
                results = await reserve_all([(key, amount, limit.budget.amount + amount, span.window)
                                             for limit, span, key in asks])
            else:
                results = await self._reserve_each(asks, amount)
        except (BudgetExceeded, ServiceUnavailable):
            raise
        except Exception as exc:
            return self._unreachable(asks, amount, exc)
        return self._held(asks, results, amount)

    def _unreachable(self, asks: list[tuple[BudgetLimit, Span, str]], amount: float, exc: Exception) -> Holds:
        if isinstance(exc, BudgetExceeded | ServiceUnavailable):
            raise exc
        if self.on_error == "open":
            log.warning("budget_unchecked", extra={"budget": asks[0][0].describe() if asks else None,
                                                   "error": type(exc).__name__})
            return Holds(self.counters, [], amount, float("inf"), None)
        raise ServiceUnavailable(
            "Budgets cannot be checked: their counters are unreachable and the gateway is configured to "
            "fail closed (budgets.on_backend_error: closed).", code="budget_backend_unreachable",
            retry_after=1.0) from None

    def _held(self, asks: list[tuple[BudgetLimit, Span, str]], results: list[Reservation] | Refusal,
              amount: float) -> Holds:
        if isinstance(results, Refusal):
            limit, span, key = next(a for a in asks if a[2] == results.key)
            self._alert(limit, span, key, "budget.exceeded", None, limit.budget.amount + amount - results.left)
            raise self._refusal(limit, span, results)
        held: list[tuple[BudgetLimit, Reservation]] = []
        room = float("inf")
        tightest: BudgetLimit | None = None
        alerts = self.alerts
        for (limit, span, key), reservation in zip(asks, results):
            budget = limit.budget
            held.append((limit, reservation))
            if reservation.left - amount < room:
                room, tightest = reservation.left - amount, limit
            if budget.soft and alerts is not None:
                spent = budget.amount - reservation.left  # counted before this request
                for threshold in budget.soft:
                    if spent >= threshold * budget.amount:
                        self._alert(limit, span, key, "budget.threshold", threshold, spent)
        return Holds(self.counters, held, amount, room, tightest)

    async def _reserve_each(self, asks: list[tuple[BudgetLimit, Span, str]],
                            amount: float) -> list[Reservation] | Refusal:
        """Counters without ``reserve_all`` (SQL): one at a time, earlier ones given back on a refusal."""
        held: list[Reservation] = []
        try:
            for limit, span, key in asks:
                result = await self.counters.reserve(key, amount, limit.budget.amount + amount, span.window)
                if isinstance(result, Refusal):
                    await self._release(held)
                    return result
                held.append(result)
        except BaseException:
            await self._release(held)
            raise
        return held

    async def _release(self, held: list[Reservation]) -> None:
        for reservation in held:
            await self.counters.refund(reservation)

    def _refusal(self, limit: BudgetLimit, span: Span, refusal: Refusal) -> BudgetExceeded:
        budget = limit.budget
        resets = span.resets_at()
        if span.end is not None:
            when, retry_after = f"it resets at {resets}", max(1.0, span.end - self.clock())
        else:
            when = "spend leaves its rolling window as it ages"
            retry_after = refusal.retry_after if refusal.retry_after != float("inf") else span.window
        return BudgetExceeded(
            f"You exceeded the {budget.period} budget of the {limit.scope} `{limit.name}` "
            f"({dollars(budget.amount)}); {when}.", budget=limit.describe(), retry_after=retry_after)

    def _alert(self, limit: BudgetLimit, span: Span, key: str, kind: str, threshold: float | None,
               spent: float) -> None:
        alerts = self.alerts
        if alerts is None:
            return
        budget = limit.budget
        now = self.clock()
        ttl = (span.end - now if span.end is not None else span.window) + 60.0
        marker = f"{key}:alert:{threshold if threshold is not None else 'exceeded'}"
        payload: dict[str, Any] = {
            "type": kind, "scope": limit.scope, "subject": limit.subject, "name": limit.name,
            "period": budget.period, "period_label": span.label, "resets_at": span.resets_at(),
            "amount_usd": budget.amount, "spent_usd": round(spent, 6), "threshold": threshold,
            "at": datetime.fromtimestamp(now, UTC).isoformat(),
        }
        alerts.offer(marker, ttl, payload, budget.webhook)
