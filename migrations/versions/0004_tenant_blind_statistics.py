"""Plans that do not depend on statistics: the planner never believes a tenant is small.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Why: on an analysed table, a brand-new tenant is absent from the statistics of
``tenant_id`` (every known tenant sits in its most-common-values list), so the planner
estimates ``tenant_id = 'new'`` at one row. Every index that starts with ``tenant_id``
then looks equally cheap, and it may pick one that matches only the tenant: the
live-name guard in ``append_versions`` then walks all of the tenant's rows for every
inserted row (batches grow quadratically until autovacuum re-analyses, which happens
only after 10% of the table changed), and a get by id can do the same.

What: ``tenant_id`` gets no statistics (``SET STATISTICS 0``; the existing ones are
cleared). Every tenant is then estimated alike, at the planner's default selectivity,
for new and old tenants, before and after ANALYZE, and the other columns (entity id,
version, entity type, name, seq) decide the access path: the index matching the most
equality columns, which is the right one whatever the tenant's size. The live-name guard
keeps its partial index on ``(tenant_id, entity_type, name_key) WHERE status <>
'retired'``: a supersede or retire appends a version and the old version stays in the
index, so the guard also checks, through the unique ``(tenant_id, entity_id,
supersedes)`` index, that the version holding the name is current. See docs/faults.md.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "registry.entity_versions"
OWNER = "registry_owner"

# PostgreSQL 18 lets the owner clear a column's statistics; older servers need a
# superuser (the embedded server's migration login is one). Without either, ANALYZE
# keeps the old row until the column's statistics are next replaced, so say so.
_CLEAR_STATISTICS = f"""
DO $$
BEGIN
    IF to_regprocedure('pg_catalog.pg_clear_attribute_stats(text, text, text, boolean)')
            IS NOT NULL THEN
        PERFORM pg_catalog.pg_clear_attribute_stats('registry', 'entity_versions',
                                                    'tenant_id', false);
    ELSIF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        DELETE FROM pg_catalog.pg_statistic
        WHERE starelid = '{TABLE}'::regclass
          AND staattnum = (SELECT attnum FROM pg_catalog.pg_attribute
                           WHERE attrelid = '{TABLE}'::regclass AND attname = 'tenant_id');
    ELSE
        RAISE WARNING 'cannot clear the statistics of {TABLE}.tenant_id here; '
            'run this migration as a superuser or on PostgreSQL 18+';
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN tenant_id SET STATISTICS 0")
    op.execute("RESET ROLE")
    op.execute(_CLEAR_STATISTICS)


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN tenant_id SET STATISTICS -1")
    op.execute("RESET ROLE")
