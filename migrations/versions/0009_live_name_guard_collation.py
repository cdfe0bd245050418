"""The live-name guard reaches its index whatever the statistics say.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Why: on a table without statistics (every fresh database, a new deployment's first
minutes) the guard in ``append_versions`` estimated both
``ix_entity_versions_live_name (tenant_id, entity_type, name_key)`` and
``ix_entity_versions_tenant_id_entity_type_entity_id`` at one row, cost 8.30 against
8.31, and the planner flipped between them as the indexes grew. The second walks all
of the tenant's rows of the type for every inserted row: 4 million index entries and
over a second of server CPU for a batch of 1,000 once the tenant holds 4,000 rows
(docs/performance.md).

What: the live-name index compares ``entity_type`` and ``name_key`` under the "C"
collation, and so do the guard and the service's conflict lookup. An index serves an
equality only under its own collation, so the (tenant_id, entity_type, entity_id)
index can match the guard on ``tenant_id`` alone: the live-name index is then the only
one whose conditions cover the name, and the guard reads O(1) index entries per row on
a never-analysed table as on an analysed one. Equality is unchanged: the database's
default collation is deterministic, so "C" and it agree on which strings are equal.
The lists by type keep the (tenant_id, entity_type, entity_id) index, which the
live-name index can now no longer match past ``tenant_id`` either.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
INDEX = "ix_entity_versions_live_name"
_PLAIN_GUARD = (
    "WHERE v.tenant_id = p_tenant AND v.entity_type = r.entity_type\n"
    "                  AND v.name_key = r.name_key AND v.status <> 'retired'"
)
_C_GUARD = (
    'WHERE v.tenant_id = p_tenant AND v.entity_type = r.entity_type COLLATE "C"\n'
    "                  AND v.name_key = r.name_key COLLATE \"C\" AND v.status <> 'retired'"
)


def _append_versions_0006() -> str:
    """The definition 0006 installed, built by 0006 itself so the two cannot drift."""
    path = Path(__file__).with_name("0006_bounded_memory_and_retention.py")
    spec = importlib.util.spec_from_file_location("registry_migration_0006", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = module._append_versions_source().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    old = "p_created_by, r.reason, r.data,"
    if old not in body or _PLAIN_GUARD not in body:
        raise RuntimeError("append_versions changed shape; update migration 0009")
    return str(body.replace(old, f"p_created_by, r.reason, {module._STORED_DATA},"))


def _live_name_index(collate: str) -> None:
    op.execute(f"DROP INDEX {SCHEMA}.{INDEX}")
    op.execute(
        f"CREATE INDEX {INDEX} ON {SCHEMA}.entity_versions "
        f"(tenant_id, entity_type{collate}, name_key{collate}) WHERE status <> 'retired'"
    )


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    _live_name_index(' COLLATE "C"')
    op.execute(_append_versions_0006().replace(_PLAIN_GUARD, _C_GUARD))
    op.execute("RESET ROLE")


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(_append_versions_0006())
    _live_name_index("")
    op.execute("RESET ROLE")
