"""Stored responses of the Responses API (``switchyard/responses``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sy_responses",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_sy_responses_expires_at", "sy_responses", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sy_responses_expires_at", "sy_responses")
    op.drop_table("sy_responses")
