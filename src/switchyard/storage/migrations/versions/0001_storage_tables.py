"""The storage protocols' tables: kv, counters, records, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sy_kv",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.create_table(
        "sy_counters",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sy_counters_expires_at", "sy_counters", ["expires_at"])
    op.create_table(
        "sy_records",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sy_records_stream_id", "sy_records", ["stream", "id"])
    op.create_table(
        "sy_jobs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("visible_at", sa.Float, nullable=False),
        sa.Column("lease", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sy_jobs_queue_visible", "sy_jobs", ["queue", "visible_at"])


def downgrade() -> None:
    op.drop_table("sy_jobs")
    op.drop_table("sy_records")
    op.drop_table("sy_counters")
    op.drop_table("sy_kv")
