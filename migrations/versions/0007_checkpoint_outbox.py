"""Checkpoint publication outbox, and the checkpoint backlog of every tenant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

1. ``registry.checkpoint_publications`` records each checkpoint the publisher confirmed
   (one row per tenant and tree size, referencing the checkpoint). A checkpoint without
   a row is in the outbox: the next write, ``POST /verify/checkpoint`` or the scheduled
   sweep publishes it again until the publisher has it
   (docs/adr/0008-checkpoint-signing.md). Append-only and tenant-isolated like the log:
   the refuse_mutation triggers, RLS FORCEd on ``app.tenant_id``, and the runtime role
   may only SELECT and INSERT. A DBA who deletes rows only causes a republication,
   which the write-once objects make a no-op.
2. ``registry.checkpoint_backlog(after, limit)``: for every tenant (after ``after``, in
   tenant order, at most ``limit``) whose log has records after
   its newest checkpoint, or checkpoints not yet published, the tenant id, the head,
   the newest checkpoint's size, when the oldest unsigned record was written and how
   many checkpoints await publication (counts and times, never content). A SECURITY
   DEFINER function owned by ``registry_owner``: row-level security is FORCEd, so the
   owner reads every tenant's rows only through SELECT policies that hold while the
   function has set its transaction-local marker, as 0006 does for expiry. The runtime
   role gets EXECUTE on it and nothing else new.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
RUNTIME = "registry_runtime"
TENANT_SETTING = "current_setting('app.tenant_id', true)"
TABLE = f"{SCHEMA}.checkpoint_publications"
BACKLOG = "checkpoint_backlog(text, integer)"
MARKER = "registry.reading_checkpoint_backlog"
BACKLOG_TABLES = ("entity_versions", "checkpoints", "checkpoint_publications")


def _create_table() -> None:
    op.create_table(
        "checkpoint_publications",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "tree_size", name="pk_checkpoint_publications"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "tree_size"],
            [f"{SCHEMA}.checkpoints.tenant_id", f"{SCHEMA}.checkpoints.tree_size"],
            name="fk_checkpoint_publications_tenant_id_tree_size_checkpoints",
        ),
        schema=SCHEMA,
    )
    op.execute(
        f"CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
    )
    op.execute(
        f"CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
    )
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_select ON {TABLE} FOR SELECT USING (tenant_id = {TENANT_SETTING})"
    )
    op.execute(
        f"CREATE POLICY tenant_insert ON {TABLE} FOR INSERT "
        f"WITH CHECK (tenant_id = {TENANT_SETTING})"
    )
    op.execute(f"REVOKE ALL ON {TABLE} FROM PUBLIC")
    op.execute(f"GRANT SELECT, INSERT ON {TABLE} TO {RUNTIME}")
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN tenant_id SET STATISTICS 0")


def _backlog_function() -> None:
    for table in BACKLOG_TABLES:
        op.execute(
            f"CREATE POLICY backlog_select ON {SCHEMA}.{table} FOR SELECT TO {OWNER} "
            f"USING (current_setting('{MARKER}', true) = 'on')"
        )
    # Tenants are found by a skip scan of the primary key (one index probe per tenant),
    # and each tenant's head, newest checkpoint and first unsigned record by one probe
    # each: the cost grows with the number of tenants, not with the size of their logs.
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.checkpoint_backlog(p_after text, p_limit integer)
        RETURNS TABLE (tenant_id text, head_seq bigint, checkpoint_size bigint,
                       first_unsigned_at timestamptz, unpublished bigint,
                       oldest_unpublished_at timestamptz)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
        BEGIN
            IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100000 THEN
                RAISE EXCEPTION 'limit must be between 1 and 100000'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM set_config('{MARKER}', 'on', true);
            RETURN QUERY
            WITH RECURSIVE tenants(id) AS (
                SELECT min(v.tenant_id) FROM {SCHEMA}.entity_versions AS v
                WHERE v.tenant_id > coalesce(p_after, '')
                UNION ALL
                SELECT (SELECT min(v.tenant_id) FROM {SCHEMA}.entity_versions AS v
                        WHERE v.tenant_id > t.id)
                FROM tenants AS t WHERE t.id IS NOT NULL
            )
            SELECT t.id, h.seq, coalesce(c.size, 0), f.created_at,
                   coalesce(p.unpublished, 0), p.oldest
            FROM tenants AS t
            CROSS JOIN LATERAL (
                SELECT v.seq FROM {SCHEMA}.entity_versions AS v
                WHERE v.tenant_id = t.id ORDER BY v.seq DESC LIMIT 1) AS h
            LEFT JOIN LATERAL (
                SELECT k.tree_size AS size FROM {SCHEMA}.checkpoints AS k
                WHERE k.tenant_id = t.id ORDER BY k.tree_size DESC LIMIT 1) AS c ON true
            LEFT JOIN LATERAL (
                SELECT v.created_at FROM {SCHEMA}.entity_versions AS v
                WHERE v.tenant_id = t.id AND v.seq = coalesce(c.size, 0) + 1) AS f ON true
            LEFT JOIN LATERAL (
                SELECT count(*) AS unpublished, min(k.created_at) AS oldest
                FROM {SCHEMA}.checkpoints AS k
                WHERE k.tenant_id = t.id AND NOT EXISTS (
                    SELECT 1 FROM {SCHEMA}.checkpoint_publications AS q
                    WHERE q.tenant_id = k.tenant_id AND q.tree_size = k.tree_size)) AS p
                ON true
            WHERE t.id IS NOT NULL
              AND (h.seq > coalesce(c.size, 0) OR coalesce(p.unpublished, 0) > 0)
            ORDER BY t.id
            LIMIT p_limit;
            PERFORM set_config('{MARKER}', 'off', true);
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SCHEMA}.{BACKLOG} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{BACKLOG} TO {RUNTIME}")


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    _create_table()
    _backlog_function()
    op.execute("RESET ROLE")


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"DROP FUNCTION {SCHEMA}.{BACKLOG}")
    for table in BACKLOG_TABLES:
        if table != "checkpoint_publications":
            op.execute(f"DROP POLICY backlog_select ON {SCHEMA}.{table}")
    op.execute(f"DROP TABLE {TABLE}")
    op.execute("RESET ROLE")
