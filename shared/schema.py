"""Table definitions of the registry schema, shared by the repository and alembic.

The migration in ``migrations/versions`` creates exactly these tables (``alembic check``
proves there is no drift); it also adds what SQLAlchemy cannot describe: roles, grants,
append-only triggers, row-level security and the ``begin_append`` function.

Example::

    from shared.schema import entity_versions
    select(entity_versions.c.seq).where(entity_versions.c.tenant_id == tenant)
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "registry"
OWNER_ROLE = "registry_owner"
RUNTIME_ROLE = "registry_runtime"

# The alembic revision the code expects; /healthz is 200 only at this revision, and a
# test keeps it equal to the migration head.
SCHEMA_REVISION = "0009"

# Stable constraint names, so migrations and error translation can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)

_SHA256 = "octet_length({col}) = 32"

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", Text, nullable=False),
    Column("algorithm", Text, nullable=False),
    Column("public_key_pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("key_id"),
    CheckConstraint(
        "algorithm IN ('Ed25519', 'ECDSA_P256_SHA256', 'RSA_PSS_SHA256')", name="algorithm"
    ),
)

entity_versions = Table(
    "entity_versions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("entity_id", Uuid(as_uuid=False), nullable=False),
    Column("version", Integer, nullable=False),
    Column("supersedes", Integer, nullable=True),
    Column("entity_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    # name_key is derived from data by the service (entities.name_key) and indexed for
    # the per-tenant uniqueness check; the canonical bytes remain the truth.
    Column("name_key", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("reason", Text, nullable=True),
    # A jsonb copy for filtering only; never hashed, never re-serialised for evidence.
    Column("data", JSONB, nullable=False),
    # The RFC 8785 bytes that were hashed and signed, stored exactly.
    Column("canonical", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("chain_hash", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("key_id", Text, ForeignKey(signing_keys.c.key_id), nullable=False),
    PrimaryKeyConstraint("tenant_id", "seq"),
    UniqueConstraint("tenant_id", "entity_id", "version"),
    # At most one successor per version: the fork backstop behind the advisory lock.
    UniqueConstraint("tenant_id", "entity_id", "supersedes"),
    ForeignKeyConstraint(
        ["tenant_id", "entity_id", "supersedes"],
        ["entity_versions.tenant_id", "entity_versions.entity_id", "entity_versions.version"],
        name="fk_entity_versions_predecessor",
    ),
    CheckConstraint("tenant_id <> '' AND length(tenant_id) <= 128", name="tenant_id"),
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint(
        "(version = 1 AND supersedes IS NULL) OR supersedes = version - 1", name="supersedes"
    ),
    CheckConstraint(
        "entity_type IN ('Skill', 'Industry', 'JobRole', 'Agent', 'Team')", name="entity_type"
    ),
    CheckConstraint(_SHA256.format(col="leaf_hash"), name="leaf_hash_size"),
    CheckConstraint(_SHA256.format(col="chain_hash"), name="chain_hash_size"),
    # Filtered lists in creation order (entity ids are UUIDv7).
    Index(None, "tenant_id", "entity_type", "entity_id"),
    # Live names only: the index the name-uniqueness guard looks up, and small. Its
    # entity_type and name_key compare under COLLATE "C" (migration 0009), so only
    # the guard's "C" comparisons can use them: no other index ties with it.
    Index(
        "ix_entity_versions_live_name",
        "tenant_id",
        "entity_type",
        "name_key",
        postgresql_where=text("status <> 'retired'"),
    ),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("chain_head", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The checkpoint key's id for a note; the record key's for a pre-note checkpoint.
    Column("key_id", Text, nullable=False),
    # Pre-note checkpoints only: the record key's signature over the JSON statement.
    Column("signature", LargeBinary, nullable=True),
    # The C2SP signed note, exactly as served (docs/adr/0010-signed-note-checkpoints.md).
    Column("note", LargeBinary, nullable=True),
    # The Merkle frontier at tree_size (subtree roots, concatenated). Not signed: it is
    # trusted only after it reproduces the signed root_hash.
    Column("frontier", LargeBinary, nullable=False),
    PrimaryKeyConstraint("tenant_id", "tree_size"),
    CheckConstraint("tree_size >= 1", name="tree_size_positive"),
    CheckConstraint(_SHA256.format(col="root_hash"), name="root_hash_size"),
    CheckConstraint(_SHA256.format(col="chain_head"), name="chain_head_size"),
    CheckConstraint("(note IS NULL) <> (signature IS NULL)", name="note_or_signature"),
    CheckConstraint("octet_length(note) BETWEEN 1 AND 8192", name="note_size"),
)

# Checkpoints the publisher confirmed (docs/adr/0008-checkpoint-signing.md): a checkpoint
# without a row here is in the outbox and is published again until the publisher has it.
checkpoint_publications = Table(
    "checkpoint_publications",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    # When the publisher confirmed it.
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "tree_size"),
    ForeignKeyConstraint(
        ["tenant_id", "tree_size"], [checkpoints.c.tenant_id, checkpoints.c.tree_size]
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", LargeBinary, nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "idempotency_key"),
    CheckConstraint("length(idempotency_key) BETWEEN 1 AND 255", name="idempotency_key_length"),
    # Expiry (registry.expire_idempotency_keys) removes the oldest rows first.
    Index(None, "created_at"),
)

# The tenant's Merkle tree as C2SP tlog-tiles (docs/adr/0006-tiles-storage.md): one row
# per *full* tile, immutable once written, so a proof reads O(log n) rows. Partial tiles
# are derived when read: level 0 from the records' leaf hashes, level L from the roots of
# the full tiles below.
tiles = Table(
    "tiles",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("level", Integer, nullable=False),
    Column("tile_index", BigInteger, nullable=False),
    # 256 concatenated SHA-256 hashes.
    Column("hashes", LargeBinary, nullable=False),
    # The Merkle root of those 256 hashes: the tile's hash in the level above.
    Column("root", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "level", "tile_index"),
    CheckConstraint("level BETWEEN 0 AND 63", name="level_range"),
    CheckConstraint("tile_index >= 0", name="tile_index_non_negative"),
    CheckConstraint("octet_length(hashes) = 8192", name="hashes_full_tile"),
    CheckConstraint(_SHA256.format(col="root"), name="root_size"),
)

# Tables holding one tenant's rows: RLS is enabled and FORCEd on each.
TENANT_TABLES = (
    "entity_versions",
    "checkpoints",
    "checkpoint_publications",
    "idempotency_keys",
    "tiles",
)
# Tables that only ever grow: UPDATE, DELETE and TRUNCATE are refused on each.
APPEND_ONLY_TABLES = (
    "entity_versions",
    "checkpoints",
    "checkpoint_publications",
    "signing_keys",
    "idempotency_keys",
    "tiles",
)
