"""Tiles: each tenant's Merkle tree stored as C2SP tlog-tiles, built for existing logs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``registry.tiles`` holds one row per *full* tile (256 hashes, immutable once written),
append-only and tenant-isolated like the log: the refuse_mutation triggers, RLS FORCEd on
``app.tenant_id``, and the runtime role may only SELECT and INSERT. Partial tiles are
derived on read (docs/adr/0006-tiles-storage.md).

The upgrade builds the tiles of every log already stored and verifies it while doing so:
each record's leaf hash is recomputed from its canonical bytes, seqs must run 1..n with no
gap, and the tree root at every stored checkpoint's size must equal the checkpoint's
root. Any failure aborts the migration (nothing is committed) with the tenant, the seq
and what differed, because tiles built over an edited log would serve it as genuine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shared.core.hashing import digests_equal, leaf_hash
from shared.core.merkle import MerkleAccumulator
from shared.core.tiles import TILE_WIDTH, FullTile, build_full_tiles

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
RUNTIME = "registry_runtime"
TENANT_SETTING = "current_setting('app.tenant_id', true)"
BATCH = 16 * TILE_WIDTH


def _create_table() -> None:
    op.create_table(
        "tiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("tile_index", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "level", "tile_index", name="pk_tiles"),
        sa.CheckConstraint("level BETWEEN 0 AND 63", name="ck_tiles_level_range"),
        sa.CheckConstraint("tile_index >= 0", name="ck_tiles_tile_index_non_negative"),
        sa.CheckConstraint("octet_length(hashes) = 8192", name="ck_tiles_hashes_full_tile"),
        sa.CheckConstraint("octet_length(root) = 32", name="ck_tiles_root_size"),
        schema=SCHEMA,
    )
    table = f"{SCHEMA}.tiles"
    op.execute(
        f"CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
    )
    op.execute(
        f"CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
    )
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_select ON {table} FOR SELECT USING (tenant_id = {TENANT_SETTING})"
    )
    op.execute(
        f"CREATE POLICY tenant_insert ON {table} FOR INSERT "
        f"WITH CHECK (tenant_id = {TENANT_SETTING})"
    )
    op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute(f"GRANT SELECT, INSERT ON {table} TO {RUNTIME}")
    # As for entity_versions (0004): no plan may depend on how big a tenant looks.
    op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id SET STATISTICS 0")


def _records(conn: sa.Connection, tenant: str) -> Iterator[tuple[int, bytes, bytes]]:
    """(seq, canonical bytes, stored leaf hash) in seq order, in keyset batches."""
    after = 0
    while True:
        rows = conn.execute(
            sa.text(
                f"SELECT seq, canonical, leaf_hash FROM {SCHEMA}.entity_versions "
                "WHERE tenant_id = :tenant AND seq > :after ORDER BY seq LIMIT :limit"
            ),
            {"tenant": tenant, "after": after, "limit": BATCH},
        ).all()
        for seq, canonical, stored in rows:
            yield seq, bytes(canonical), bytes(stored)
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def _fail(tenant: str, seq: int, detail: str) -> RuntimeError:
    return RuntimeError(f"tenant {tenant!r}, seq {seq}: {detail}; no tiles were written")


def _build_tenant(conn: sa.Connection, tenant: str, now: datetime) -> int:
    checkpoints = dict(
        conn.execute(
            sa.text(
                f"SELECT tree_size, root_hash FROM {SCHEMA}.checkpoints WHERE tenant_id = :tenant"
            ),
            {"tenant": tenant},
        ).all()
    )
    leaves: list[bytes] = []
    roots: dict[tuple[int, int], bytes] = {}
    accumulator = MerkleAccumulator()
    pending: list[bytes] = []
    written = 0

    def earlier(level: int, start: int, end: int) -> list[bytes]:
        if level == 0:
            return leaves[start:end]
        return [roots[(level - 1, i)] for i in range(start, end)]

    def flush() -> int:
        built: list[FullTile] = build_full_tiles(len(leaves), pending, earlier)
        leaves.extend(pending)
        pending.clear()
        for tile in built:
            roots[(tile.tile.level, tile.tile.index)] = tile.root
        if built:
            conn.execute(
                sa.text(
                    f"INSERT INTO {SCHEMA}.tiles "
                    "(tenant_id, level, tile_index, hashes, root, created_at) "
                    "VALUES (:tenant, :level, :tile_index, :hashes, :root, :created_at)"
                ),
                [
                    {
                        "tenant": tenant,
                        "level": tile.tile.level,
                        "tile_index": tile.tile.index,
                        "hashes": tile.data,
                        "root": tile.root,
                        "created_at": now,
                    }
                    for tile in built
                ],
            )
        return len(built)

    for seq, canonical, stored in _records(conn, tenant):
        if seq != accumulator.size + 1:
            raise _fail(tenant, accumulator.size + 1, f"missing (next stored seq is {seq})")
        computed = leaf_hash(canonical)
        if not digests_equal(computed, stored):
            raise _fail(tenant, seq, f"leaf hash {stored.hex()} is not {computed.hex()}")
        accumulator.append(computed)
        pending.append(computed)
        signed = checkpoints.get(seq)
        if signed is not None and not digests_equal(accumulator.root(), bytes(signed)):
            raise _fail(tenant, seq, "the log's root differs from the stored checkpoint's")
        if len(pending) == BATCH:
            written += flush()
    written += flush()
    beyond = [size for size in checkpoints if size > accumulator.size]
    if beyond:
        raise _fail(tenant, accumulator.size + 1, f"checkpoints reach size {max(beyond)}")
    return written


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    _create_table()
    conn = op.get_bind()
    # FORCEd RLS hides every row from the owner too; lifting FORCE inside this one
    # transaction lets the owner read every tenant's log to build its tiles. DDL is
    # transactional, so FORCE is back before anything commits.
    op.execute(f"ALTER TABLE {SCHEMA}.entity_versions NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {SCHEMA}.checkpoints NO FORCE ROW LEVEL SECURITY")
    tenants = conn.scalars(
        sa.text(f"SELECT DISTINCT tenant_id FROM {SCHEMA}.entity_versions ORDER BY 1")
    ).all()
    op.execute(f"ALTER TABLE {SCHEMA}.entity_versions FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {SCHEMA}.checkpoints FORCE ROW LEVEL SECURITY")
    now = datetime.now(UTC)
    for tenant in tenants:
        # Each tenant's rows are read and its tiles written under its own RLS setting.
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant})
        _build_tenant(conn, tenant, now)
    conn.execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))
    op.execute("RESET ROLE")


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.drop_table("tiles", schema=SCHEMA)
    op.execute("RESET ROLE")
