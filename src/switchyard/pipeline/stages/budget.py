"""budget: the caller's budgets, reserved before the call and settled with its cost.

For a caller with budgets (``Caller.budgets``): the request's cost is estimated —
its prompt counted locally (``budgets.estimator``: four characters a token, or
tiktoken) plus ``max_tokens`` (else ``budgets.default_max_tokens``) at the
dearest deployment of its model group, with a quarter on top for tokenizers
that count more than the local estimate — and reserved against every
budget at once (``budgets/ledger.py``); a spent budget refuses it with 429
``budget_exceeded``. The reservation is settled with the real cost when the call
settles (``call.on_settle``): the pipeline has priced the answer by then, a
failed call costs nothing, a stream its client left is charged for what it sent.

A stream that sets no ``max_tokens`` may run past its estimate only as far as
the budget had room when it was admitted: the stage watches its output
(``call.on_chunk``) and ends it with a ``budget_exceeded`` error event there.

Why after resolve: the price is the model group's. Why before admit: a request
its budget refuses should not take a rate-limit unit or wait in the priority
queue first, and the refusal lasts until the period resets, so it is the
cheaper and more final answer; a request that then waits in the queue holds its
reservation, as any request in flight does, and gives it back if the queue
refuses it (the settle runs however the call ends).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from switchyard.admission.estimate import Estimator
from switchyard.budgets.ledger import BudgetLedger, Holds, dollars
from switchyard.budgets.limit import BudgetLimit
from switchyard.core.call import Call
from switchyard.core.errors import BudgetExceeded
from switchyard.core.stage import Streaming, Unary

#: Reservations are the estimate times this: tokenizers of other vendors count up to ~20% more.
MARGIN = 1.25


class Budgets:
    """The request stage (see the module docstring)."""

    def __init__(self, ledger: BudgetLedger, estimator: Estimator) -> None:
        self.ledger = ledger
        self.estimator = estimator

    def _estimate(self, call: Call) -> tuple[float, int, bool]:
        """``(dollars to reserve, completion tokens estimated, whether max_tokens bounds them)``."""
        prompt, completion, bounded = self.estimator.bounds(call.request)
        deployments = call.group.deployments
        if len(deployments) == 1:
            amount = deployments[0].price.estimate(prompt, completion) * MARGIN
        else:
            amount = max(d.price.estimate(prompt, completion) for d in deployments) * MARGIN
        return amount, completion, bounded

    async def _reserve(self, call: Call) -> tuple[Holds, int, bool]:
        amount, completion, bounded = self._estimate(call)
        holds = await self.ledger.reserve(call.caller.budgets, amount)
        call.on_settle(holds.settler())
        return holds, completion, bounded

    # Plain functions: a caller without budgets is handed straight on (no frame of
    # this stage's own), and so is one whose counters reserve without awaiting (memory).
    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        caller = call.caller
        if caller is not None and caller.budgets:
            ledger = self.ledger
            if not ledger.reserves_now:
                return self._reserved_unary(call, next)
            call.on_settle(ledger.reserve_now(caller.budgets, self._estimate(call)[0]).settle_now)
        return next(call)

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]:
        caller = call.caller
        if caller is not None and caller.budgets:
            return self._reserved_stream(call, next)
        return next(call)

    async def _reserved_unary(self, call: Call, next: Unary) -> Any:
        await self._reserve(call)
        return await next(call)

    async def _reserved_stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        holds, completion, bounded = await self._reserve(call)
        if not bounded:
            rate = max(d.price.output_rate() for d in call.group.deployments)
            if rate > 0 and holds.tightest is not None:
                allowance = completion + int(max(0.0, holds.room) / rate)
                call.on_chunk(_Cut(allowance, holds.tightest).watch)
        return await next(call)


class _Cut:
    """Ends a stream whose output passed ``allowance`` tokens (a ``Call.on_chunk`` watcher)."""

    __slots__ = ("allowance", "limit")

    def __init__(self, allowance: int, limit: BudgetLimit) -> None:
        self.allowance = allowance
        self.limit = limit

    def watch(self, call: Call) -> None:
        if call.streamed > self.allowance:
            self.allowance = 1 << 62  # once
            limit = self.limit
            raise BudgetExceeded(
                f"The stream was ended: its output crossed the {limit.budget.period} budget of the {limit.scope} "
                f"`{limit.name}` ({dollars(limit.budget.amount)}).", budget=limit.describe())
