"""``BudgetLimit``: one budget that applies to a caller — whose it is, and its terms.

The seam between who is calling and what may be spent: an authenticator puts
every budget that applies to a request on ``Caller.budgets`` (a static key's
own ``budget:``; a virtual key's, its user's, team's and tenant's from the
directory's snapshot), and the budget stage enforces them all. ``subject`` is
what spend is counted under (a stable id: renaming does not reset a budget);
``name`` is for messages and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchyard.core.config.budgets import Budget

Scope = Literal["key", "user", "team", "tenant"]
SCOPES: tuple[Scope, ...] = ("key", "user", "team", "tenant")


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """One budget on ``Caller.budgets``: ``scope`` (key, user, team, tenant), ``subject``
    (the owner's stable id), ``name`` (for people), ``budget`` (the terms)."""

    scope: Scope
    subject: str
    name: str
    budget: Budget

    def describe(self) -> str:
        """``key=team-a monthly``: how headers and logs name it."""
        return f"{self.scope}={self.name} {self.budget.period}"
