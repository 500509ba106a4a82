"""Spend records: one row per request, appended in batches (``switchyard/spend``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sy_spend",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("key", sa.String(256), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("user", sa.String(256), nullable=True),
        sa.Column("team", sa.String(256), nullable=True),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("tenant", sa.String(256), nullable=True),
        sa.Column("alias", sa.String(256), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("deployment", sa.String(256), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.String(128), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=True),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=True),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("priced", sa.Boolean, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("coalesced", sa.Boolean, nullable=False),
    )
    op.create_index("ix_sy_spend_at", "sy_spend", ["at"])


def downgrade() -> None:
    op.drop_index("ix_sy_spend_at", "sy_spend")
    op.drop_table("sy_spend")
