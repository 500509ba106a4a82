"""Spend records and reports: one record per request, appended in batches, rolled up.

* ``record.py`` — ``SpendRecord``: key, user, team, tenant, alias, deployment,
  tokens by type, cost, latency, status, cache and coalescing flags;
* ``store.py`` — a bounded list in memory, and the store for a durable store;
* ``sql_store.py`` — ``sy_spend`` in SQLite/PostgreSQL (SQLAlchemy loaded only then);
* ``log.py`` — ``SpendLog``: the bounded batched writer and the reports;
* ``report.py`` — ``SpendQuery`` and the ``Rollup`` rows of ``GET /admin/spend``.
"""

from switchyard.spend.log import SpendLog
from switchyard.spend.record import GROUPS, SpendRecord
from switchyard.spend.report import Rollup, SpendQuery
from switchyard.spend.store import MemorySpendStore, spend_store_for

__all__ = ["GROUPS", "MemorySpendStore", "Rollup", "SpendLog", "SpendQuery", "SpendRecord", "spend_store_for"]
