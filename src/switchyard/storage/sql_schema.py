"""The SQL stores' tables (SQLAlchemy Core). Migrations in ``migrations/`` create them.

Any change here needs a new migration (``migrations/versions``); the test of
``switchyard db upgrade`` checks the migrated tables against these.
"""

from __future__ import annotations

from typing import Any

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


# -- the directory (switchyard.governance): tenants, teams, users, virtual keys ----------------------
# Every write takes the next value of sy_directory.revision (one row) in its own transaction and
# stamps the rows it writes with it; replicas load "rows with revision > the last one seen".
# Names are unique among live rows only (a deleted team's name can be reused).

ENTITY_ID = sa.String(40)
NAME = sa.String(200)


def _entity_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    ]


directory = sa.Table(
    "sy_directory", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
)

tenants = sa.Table(
    "sy_tenants", metadata,
    sa.Column("id", ENTITY_ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("tier", sa.String(64), nullable=True),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.BigInteger, nullable=True),
    sa.Column("budget", sa.JSON, nullable=True),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    *_entity_columns(),
    sa.Index("ix_sy_tenants_revision", "revision"),
    sa.Index("ux_sy_tenants_name", "name", unique=True, sqlite_where=sa.text("NOT deleted"),
             postgresql_where=sa.text("NOT deleted")),
)

teams = sa.Table(
    "sy_teams", metadata,
    sa.Column("id", ENTITY_ID, primary_key=True),
    sa.Column("tenant_id", ENTITY_ID, nullable=False),
    sa.Column("name", NAME, nullable=False),
    sa.Column("models", sa.JSON, nullable=True),
    sa.Column("tier", sa.String(64), nullable=True),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.BigInteger, nullable=True),
    sa.Column("budget", sa.JSON, nullable=True),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    *_entity_columns(),
    sa.Index("ix_sy_teams_revision", "revision"),
    sa.Index("ux_sy_teams_name", "name", unique=True, sqlite_where=sa.text("NOT deleted"),
             postgresql_where=sa.text("NOT deleted")),
)

users = sa.Table(
    "sy_users", metadata,
    sa.Column("id", ENTITY_ID, primary_key=True),
    sa.Column("tenant_id", ENTITY_ID, nullable=False),
    sa.Column("team_id", ENTITY_ID, nullable=True),
    sa.Column("email", NAME, nullable=False),
    sa.Column("name", NAME, nullable=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("budget", sa.JSON, nullable=True),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    *_entity_columns(),
    sa.Index("ix_sy_users_revision", "revision"),
    sa.Index("ux_sy_users_email", "email", unique=True, sqlite_where=sa.text("NOT deleted"),
             postgresql_where=sa.text("NOT deleted")),
)

keys = sa.Table(
    "sy_keys", metadata,
    sa.Column("id", ENTITY_ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", ENTITY_ID, nullable=False),
    sa.Column("team_id", ENTITY_ID, nullable=True),
    sa.Column("user_id", ENTITY_ID, nullable=True),
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
    *_entity_columns(),
    sa.Index("ix_sy_keys_revision", "revision"),
    sa.Index("ix_sy_keys_team", "team_id"),
)

ENTITY_TABLES = {"tenant": tenants, "team": teams, "user": users, "key": keys}

#: Spend records (``switchyard/spend``): one row per request, appended in batches, never updated.
spend = sa.Table(
    "sy_spend", metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),  # epoch seconds
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
    sa.Index("ix_sy_spend_at", "at"),
)

#: Stored responses of the Responses API (``switchyard/responses``): one row each, until it expires.
responses = sa.Table(
    "sy_responses", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Index("ix_sy_responses_expires_at", "expires_at"),
)

# -- batches (switchyard.batch): the write model ----------------------------------------------------
# Files as uploaded (or, for a batch's output and error files, made from its results when read);
# a batch and its valid lines, copied out of the input file when the batch is created; one result
# per (batch, line) — custom_ids are unique in a batch, so the key makes a result written twice one row.
BATCH_ID = sa.String(64)

files = sa.Table(
    "sy_files", metadata,
    sa.Column("id", BATCH_ID, primary_key=True),
    sa.Column("owner", sa.String(300), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=True),  # NULL: made from a batch's results when read
    sa.Column("batch_id", BATCH_ID, nullable=True),
    sa.Column("kind", sa.String(16), nullable=True),  # output | error, for a batch's files
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_sy_files_owner", "owner", "created_at"),
)

batches = sa.Table(
    "sy_batches", metadata,
    sa.Column("id", BATCH_ID, primary_key=True),
    sa.Column("owner", sa.String(300), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("input_file_id", BATCH_ID, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # in_progress, cancelling, completed, cancelled, expired, failed
    sa.Column("mode", sa.String(16), nullable=False),  # gateway | native
    sa.Column("alias", sa.String(256), nullable=True),
    sa.Column("discount", sa.Boolean, nullable=False),
    sa.Column("native", sa.JSON, nullable=True),  # the provider batch's ids and state (mode native)
    sa.Column("cancelling_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("enqueued", sa.String(64), nullable=True),  # the work queue's epoch its chunks were put in
    sa.Index("ix_sy_batches_state", "state"),
)

batch_lines = sa.Table(
    "sy_batch_lines", metadata,
    sa.Column("batch_id", BATCH_ID, primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("custom_id", sa.String(512), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)

batch_results = sa.Table(
    "sy_batch_results", metadata,
    sa.Column("batch_id", BATCH_ID, primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),  # custom_ids are unique per batch
    sa.Column("custom_id", sa.String(512), nullable=True),  # None: a line that had no valid one
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # the output (or error) file's line, without its newline
    sa.Column("at", sa.Float, nullable=False),
)

#: The event log of the batch commands (created, each line's result, cancelled, finished), in
#: append order: ids are taken under one lock, so they commit in order and a reader never skips one.
events = sa.Table(
    "sy_events", metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# -- read models (switchyard.projections): kept from the events by the projector --------------------
projections = sa.Table(
    "sy_projections", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),  # the last event applied
    sa.Column("updated_at", sa.Float, nullable=False),
)

batch_view = sa.Table(
    "sy_batch_view", metadata,
    sa.Column("id", BATCH_ID, primary_key=True),
    sa.Column("owner", sa.String(300), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("doc", sa.LargeBinary, nullable=False),  # the batch object as the API shows it (JSON)
    sa.Index("ix_sy_batch_view_owner", "owner", "created_at"),
)

usage_view = sa.Table(
    "sy_usage_view", metadata,
    sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),  # the minute (epoch seconds)
    sa.Column("dims", sa.String(32), primary_key=True),  # a digest of the dimensions below
    *(sa.Column(name, sa.String(256), nullable=True)
      for name in ("key", "key_id", "user", "team", "team_id", "tenant", "alias", "model", "deployment", "provider")),
    *(sa.Column(name, sa.BigInteger, nullable=False)
      for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                   "reasoning_tokens", "unpriced", "estimated")),
    sa.Column("cost_usd", sa.Float, nullable=False),
)

TABLES = ("sy_kv", "sy_counters", "sy_records", "sy_jobs", "sy_audit", "sy_audit_head", "sy_directory", "sy_tenants",
          "sy_teams", "sy_users", "sy_keys", "sy_spend", "sy_responses", "sy_files", "sy_batches", "sy_batch_lines",
          "sy_batch_results", "sy_events", "sy_projections", "sy_batch_view", "sy_usage_view")
