"""Budgets in US dollars: per key, user, team and tenant, calendar or rolling, enforced exactly.

* ``limit.py`` — ``BudgetLimit``: one budget on ``Caller.budgets`` (scope, owner, terms);
* ``periods.py`` — which counter a budget counts in now, and when it resets;
* ``ledger.py`` — reserve an estimate before the call, settle the real cost after
  (the store's atomic ``Counters``: Lua in Redis when shared);
* ``alerts.py`` — soft thresholds and exhaustion, once per period, to a webhook.

The request stage is ``pipeline/stages/budget.py``; the terms are ``core.config.Budget``.
"""

from switchyard.budgets.alerts import BudgetAlerts
from switchyard.budgets.ledger import BudgetLedger, Holds
from switchyard.budgets.limit import SCOPES, BudgetLimit

__all__ = ["SCOPES", "BudgetAlerts", "BudgetLedger", "BudgetLimit", "Holds"]
