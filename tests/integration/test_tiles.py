"""Tiles in PostgreSQL: written by the append path, rebuilt and verified by migration 0005."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from shared.core.commands import create_entity, parse_batch
from shared.core.errors import VerificationError
from shared.core.hashing import leaf_hash
from shared.core.merkle import inclusion_proof, root, verify_inclusion
from shared.core.principal import Principal
from shared.core.signing import LocalSigner
from shared.core.tiles import LeafTileReader, Tile, TiledTree, parse_entry_bundle, tiles_for_size
from shared.db import engine_for_url
from shared.migration import downgrade_database, upgrade_database
from shared.repository import Repository
from shared.repository_tiles import TileStore
from shared.service import Registry
from tests.conftest import ALL_SCOPES, Database
from tests.integration.helpers import skill_data

pytestmark = pytest.mark.integration


def fill(registry: Registry, principal: Principal, n: int, batch: int = 250) -> None:
    while n > 0:
        size = min(batch, n)
        registry.create(
            principal,
            parse_batch(
                {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(size)]}
            ),
        )
        n -= size


def stored_leaves(repository: Repository, tenant: str) -> list[bytes]:
    with repository.tenant_transaction(tenant) as tx:
        head = tx.head()
        return tx.leaves(head.seq).leaf_hashes


def test_appends_write_exactly_the_full_tiles(
    registry: Registry, runtime_engine: Engine, admin: Principal
) -> None:
    repository = Repository(runtime_engine)
    # Sizes that cross tile boundaries in the middle of a batch, and one by one.
    fill(registry, admin, 700, batch=300)
    for _ in range(70):
        registry.create(admin, create_entity("Skill", skill_data()))
    leaves = stored_leaves(repository, admin.tenant_id)
    assert len(leaves) == 770
    reference = LeafTileReader(leaves)
    with repository.tenant_transaction(admin.tenant_id) as tx:
        store = TileStore(tx)
        for tile in tiles_for_size(770):
            assert store.read_tiles([tile]) == reference.read_tiles([tile]), tile
        bundle = parse_entry_bundle(store.entry_bundle(Tile(0, 3, 2)))
        assert [leaf_hash(e) for e in bundle] == leaves[768:]
        tree = TiledTree(770, store)
        assert tree.root() == root(leaves)
        assert tree.inclusion_proof(500) == inclusion_proof(500, leaves)
        # Only full tiles are rows: three at level 0, none above yet.
        rows = tx.conn.execute(
            sa.text("SELECT level, tile_index FROM registry.tiles ORDER BY 1, 2")
        ).all()
    assert [tuple(r) for r in rows] == [(0, 0), (0, 1), (0, 2)]


def test_tiles_are_tenant_scoped(
    registry: Registry, runtime_engine: Engine, admin: Principal
) -> None:
    fill(registry, admin, 256)
    other = Principal("eve@example.com", f"tenant-{secrets.token_hex(6)}", ALL_SCOPES)
    with Repository(runtime_engine).tenant_transaction(other.tenant_id) as tx:
        assert tx.conn.scalar(sa.text("SELECT count(*) FROM registry.tiles")) == 0


def test_a_proof_from_tampered_tiles_does_not_verify(
    registry: Registry, runtime_engine: Engine, admin_engine: Engine, admin: Principal
) -> None:
    fill(registry, admin, 512)
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text(
                # Flip every bit of byte 100 (in hash 3), so the byte always changes.
                "UPDATE registry.tiles SET hashes = set_byte(hashes, 99, "
                "get_byte(hashes, 99) # 255) "
                "WHERE tenant_id = :t AND level = 0 AND tile_index = 0"
            ),
            {"t": admin.tenant_id},
        )
    repository = Repository(runtime_engine)
    leaves = stored_leaves(repository, admin.tenant_id)
    with repository.tenant_transaction(admin.tenant_id) as tx:
        # Leaf 10's path holds the subtree [0, 8), which covers the changed hash 3.
        proof = TiledTree(512, TileStore(tx)).inclusion_proof(10)
    with pytest.raises(VerificationError, match="does not lead to the tree root"):
        verify_inclusion(
            index=10, tree_size=512, leaf_hash=leaves[10], proof=proof, root=root(leaves)
        )


# --- migration 0005 ----------------------------------------------------------------


@pytest.fixture
def scratch(database: Database) -> Iterator[tuple[str, str]]:
    """(admin URL, runtime URL) of a fresh, migrated database."""
    name = f"registry_tiles_{secrets.token_hex(4)}"
    server = sa.create_engine(database.admin_url, poolclass=sa.pool.NullPool)
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin_url = sa.make_url(database.admin_url).set(database=name)
    runtime_url = sa.make_url(database.runtime_url).set(database=name)
    upgrade_database(admin_url.render_as_string(hide_password=False), [database.runtime_login])
    yield (
        admin_url.render_as_string(hide_password=False),
        runtime_url.render_as_string(hide_password=False),
    )
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    server.dispose()


def _all_tiles(admin_url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT tenant_id, level, tile_index, hashes, root FROM registry.tiles "
                    "ORDER BY 1, 2, 3"
                )
            ).all()
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def _populate(runtime_url: str, tenants: dict[str, int]) -> None:
    engine = engine_for_url(runtime_url)
    signer = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
    registry = Registry(engine, signer, {signer.key_id: signer.public_key})
    try:
        for tenant, n in tenants.items():
            principal = Principal("alice@example.com", tenant, ALL_SCOPES)
            fill(registry, principal, n)
            registry.sign_checkpoint(principal)
    finally:
        engine.dispose()


def test_the_migration_rebuilds_the_tiles_the_appends_wrote(scratch: tuple[str, str]) -> None:
    admin_url, runtime_url = scratch
    # Level-1 tiles need 65,536 records, too slow here; build_full_tiles builds them the
    # same way in both paths and tests/unit/test_core_tiles.py covers them.
    _populate(runtime_url, {"acme": 600, "globex": 1030})
    written = _all_tiles(admin_url)
    assert [(row[0], row[2]) for row in written if row[1] == 0][-1] == ("globex", 3)
    downgrade_database(admin_url, "0004")
    upgrade_database(admin_url)
    assert _all_tiles(admin_url) == written


def test_the_migration_refuses_an_edited_log(scratch: tuple[str, str]) -> None:
    admin_url, runtime_url = scratch
    _populate(runtime_url, {"acme": 300})
    downgrade_database(admin_url, "0004")
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                sa.text(
                    "UPDATE registry.entity_versions SET canonical = canonical || ' '::bytea "
                    "WHERE tenant_id = 'acme' AND seq = 42"
                )
            )
        with pytest.raises(RuntimeError, match="tenant 'acme', seq 42: leaf hash"):
            upgrade_database(admin_url)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT to_regclass('registry.tiles')")) is None
    finally:
        engine.dispose()


# --- the audit holds the stored tiles against the records ----------------------------


def _as_dba(admin_engine: Engine, statement: str, tenant: str) -> None:
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(statement), {"t": tenant})


def test_the_audit_passes_an_untouched_log(registry: Registry, admin: Principal) -> None:
    fill(registry, admin, 600)
    assert registry.audit(admin).valid


def test_the_audit_reports_a_changed_tile(
    registry: Registry, admin_engine: Engine, admin: Principal
) -> None:
    fill(registry, admin, 600)
    _as_dba(
        admin_engine,
        "UPDATE registry.tiles SET root = sha256(root) "
        "WHERE tenant_id = :t AND level = 0 AND tile_index = 1",
        admin.tenant_id,
    )
    report = registry.audit(admin)
    assert not report.valid and report.failure is not None
    assert report.failure.check == "tile" and report.first_bad_seq == 512
    assert "tile/0/001" in report.failure.detail


def test_the_audit_reports_a_deleted_tail_and_its_checkpoints(
    registry: Registry, admin_engine: Engine, admin: Principal
) -> None:
    # The DBA deletes the newest records and every checkpoint that covered them; the
    # full tiles the deleted records completed still say how long the log was.
    fill(registry, admin, 600)
    registry.sign_checkpoint(admin)
    _as_dba(
        admin_engine,
        "DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 300",
        admin.tenant_id,
    )
    _as_dba(
        admin_engine,
        "DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size > 300",
        admin.tenant_id,
    )
    report = registry.audit(admin)
    assert not report.valid and report.failure is not None
    assert report.failure.check == "truncation"
    assert "2 full tiles at level 0 are stored" in report.failure.detail
