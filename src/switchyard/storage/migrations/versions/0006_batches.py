"""Batches and read models: files, batches, their lines and results, the event log, the projections.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_DIMS = ("key", "key_id", "user", "team", "team_id", "tenant", "alias", "model", "deployment", "provider")
_SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
         "reasoning_tokens", "unpriced", "estimated")


def upgrade() -> None:
    op.create_table(
        "sy_files",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        sa.Column("batch_id", _ID, nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_sy_files_owner", "sy_files", ["owner", "created_at"])
    op.create_table(
        "sy_batches",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("input_file_id", _ID, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(256), nullable=True),
        sa.Column("discount", sa.Boolean, nullable=False),
        sa.Column("native", sa.JSON, nullable=True),
        sa.Column("cancelling_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("enqueued", sa.String(64), nullable=True),
    )
    op.create_index("ix_sy_batches_state", "sy_batches", ["state"])
    op.create_table(
        "sy_batch_lines",
        sa.Column("batch_id", _ID, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("custom_id", sa.String(512), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "sy_batch_results",
        sa.Column("batch_id", _ID, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("custom_id", sa.String(512), nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "sy_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "sy_projections",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sy_batch_view",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("doc", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_sy_batch_view_owner", "sy_batch_view", ["owner", "created_at"])
    op.create_table(
        "sy_usage_view",
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("dims", sa.String(32), primary_key=True),
        *(sa.Column(name, sa.String(256), nullable=True) for name in _DIMS),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in _SUMS),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_sy_batch_view_owner", "sy_batch_view")
    op.drop_index("ix_sy_batches_state", "sy_batches")
    op.drop_index("ix_sy_files_owner", "sy_files")
    for table in ("sy_usage_view", "sy_batch_view", "sy_projections", "sy_events", "sy_batch_results",
                  "sy_batch_lines", "sy_batches", "sy_files"):
        op.drop_table(table)
