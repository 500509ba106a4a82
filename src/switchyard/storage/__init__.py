"""The storage layer: narrow protocols and one factory, ``open_store(url)``.

=====================  ==========================================================
``memory://``          in this process (the embedded default); nothing shared
``sqlite:///path``     a file: durable, one machine (pub/sub fans out in-process)
``redis://…``          shared by every replica: counters (Lua), kv, pub/sub, queue
``postgresql://…``     durable and shared; pub/sub is LISTEN/NOTIFY
=====================  ==========================================================

Every store has ``.counters`` (reserve/settle), ``.kv`` (TTL), ``.pubsub``,
``.records`` (append-only) and ``.queue`` (leases), see ``protocols.py``.
SQL stores keep their tables under Alembic migrations
(``switchyard db upgrade``); memory and Redis stores also hand out the
rate-limit backends (``limits.LimitStore``).
"""

from switchyard.storage.factory import ENTRY_POINT_GROUP, StoreRegistry, open_store
from switchyard.storage.protocols import (
    Counters,
    Job,
    KeyValue,
    PubSub,
    Record,
    Records,
    Refusal,
    Reservation,
    Store,
    StoreUnavailable,
    Subscription,
    WorkQueue,
)
from switchyard.storage.url import StoreURLError

__all__ = [
    "ENTRY_POINT_GROUP", "Counters", "Job", "KeyValue", "PubSub", "Record", "Records", "Refusal", "Reservation",
    "Store", "StoreRegistry", "StoreURLError", "StoreUnavailable", "Subscription", "WorkQueue", "open_store",
]
