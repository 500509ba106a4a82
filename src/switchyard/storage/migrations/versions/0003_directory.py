"""The directory: tenants, teams, users, virtual keys, and the revision counter they are stamped with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(40)
NAME = sa.String(200)


def _stamps() -> list[Any]:
    return [
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    ]


def _live_unique(name: str, table: str, column: str) -> None:
    op.create_index(name, table, [column], unique=True, sqlite_where=sa.text("NOT deleted"),
                    postgresql_where=sa.text("NOT deleted"))


def upgrade() -> None:
    directory = op.create_table(
        "sy_directory",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(directory, [{"id": 1, "revision": 0}])
    op.create_table(
        "sy_tenants",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.BigInteger, nullable=True),
        sa.Column("budget", sa.JSON, nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        *_stamps(),
    )
    op.create_index("ix_sy_tenants_revision", "sy_tenants", ["revision"])
    _live_unique("ux_sy_tenants_name", "sy_tenants", "name")
    op.create_table(
        "sy_teams",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.BigInteger, nullable=True),
        sa.Column("budget", sa.JSON, nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        *_stamps(),
    )
    op.create_index("ix_sy_teams_revision", "sy_teams", ["revision"])
    _live_unique("ux_sy_teams_name", "sy_teams", "name")
    op.create_table(
        "sy_users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("email", NAME, nullable=False),
        sa.Column("name", NAME, nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("budget", sa.JSON, nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        *_stamps(),
    )
    op.create_index("ix_sy_users_revision", "sy_users", ["revision"])
    _live_unique("ux_sy_users_email", "sy_users", "email")
    op.create_table(
        "sy_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("routes", sa.JSON, nullable=True),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.BigInteger, nullable=True),
        sa.Column("budget", sa.JSON, nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_digest", sa.String(64), nullable=True),
        sa.Column("previous_prefix", sa.String(32), nullable=True),
        sa.Column("previous_until", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
        *_stamps(),
    )
    op.create_index("ix_sy_keys_revision", "sy_keys", ["revision"])
    op.create_index("ix_sy_keys_team", "sy_keys", ["team_id"])


def downgrade() -> None:
    for table in ("sy_keys", "sy_users", "sy_teams", "sy_tenants", "sy_directory"):
        op.drop_table(table)
