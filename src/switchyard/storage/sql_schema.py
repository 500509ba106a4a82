"""The SQL stores' tables (SQLAlchemy Core). Migrations in ``migrations/`` create them.

Any change here needs a new migration (``migrations/versions``); the test of
``switchyard db upgrade`` checks the migrated tables against these.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: An id column that autoincrements on both: SQLite only does so for INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

kv = sa.Table(
    "sy_kv", metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),  # epoch seconds; NULL: never
)

counters = sa.Table(
    "sy_counters", metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("slot", sa.BigInteger, primary_key=True),  # ceil(epoch / slot width)
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # epoch seconds when the slot leaves its window
    sa.Index("ix_sy_counters_expires_at", "expires_at"),
)

records = sa.Table(
    "sy_records", metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("stream", sa.String(512), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_sy_records_stream_id", "stream", "id"),
)

jobs = sa.Table(
    "sy_jobs", metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(512), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("visible_at", sa.Float, nullable=False),
    sa.Column("lease", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_sy_jobs_queue_visible", "queue", "visible_at"),
)

#: The audit log (``switchyard/audit``): entries with their chain hashes, and the chain's head.
audit = sa.Table(
    "sy_audit", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("target", sa.String(512), nullable=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_sy_audit_at", "at"),
    sa.Index("ix_sy_audit_actor", "actor"),
    sa.Index("ix_sy_audit_action", "action"),
)

audit_head = sa.Table(
    "sy_audit_head", metadata,
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("anchor_id", sa.BigInteger, nullable=False),
    sa.Column("anchor_hash", sa.String(64), nullable=False),
)

TABLES = ("sy_kv", "sy_counters", "sy_records", "sy_jobs", "sy_audit", "sy_audit_head")
