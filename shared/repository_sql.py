"""The SQL the repository runs, composed once at import.

Kept apart from ``shared.repository`` so the code that runs statements reads on its own;
only the repository (and tests that poke at one statement) import it. Every statement is
tenant-scoped by RLS through ``app.tenant_id``, set by each transaction's first statement.
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.core.records import CONTENT_FIELDS, SEAL_FIELDS

# Columns are named like the record's fields, so the select list derives from them.
RECORD_COLUMNS = ", ".join(
    "v.entity_id::text AS entity_id" if name == "entity_id" else f"v.{name}"
    for name in (*CONTENT_FIELDS, *SEAL_FIELDS)
)
# A version is current when no version supersedes it.
IS_CURRENT = (
    "NOT EXISTS (SELECT 1 FROM registry.entity_versions AS s "
    "WHERE s.tenant_id = v.tenant_id AND s.entity_id = v.entity_id AND s.supersedes = v.version)"
)
# Current once record :as_of_seq was appended: in the log by then, no successor by then.
WAS_CURRENT = (
    "v.seq <= :as_of_seq AND NOT EXISTS (SELECT 1 FROM registry.entity_versions AS s "
    "WHERE s.tenant_id = v.tenant_id AND s.entity_id = v.entity_id AND s.supersedes = v.version "
    "AND s.seq <= :as_of_seq)"
)

SET_TENANT = sa.text("SELECT set_config('app.tenant_id', :tenant, true)")
# The tenant and the timeouts in one round trip; all transaction-local.
BEGIN_TENANT = sa.text(
    "SELECT set_config('app.tenant_id', :tenant, true), "
    "set_config('lock_timeout', :lock_timeout, true), "
    "set_config('statement_timeout', :statement_timeout, true), "
    "set_config('idle_in_transaction_session_timeout', :idle_timeout, true)"
)
BEGIN_APPEND = sa.text(
    "SELECT head_seq, head_chain_hash, checkpoint_size FROM registry.begin_append("
    ":tenant, :lock_ms, :statement_ms, :idle_ms)"
)
GET_VERSION = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.entity_id = CAST(:entity_id AS uuid) "
    "AND v.version = :version"
)
GET_CURRENT = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.entity_id = CAST(:entity_id AS uuid) "
    "ORDER BY v.version DESC LIMIT 1"
)
# The version of an entity that was current once record :as_of_seq was appended.
GET_AS_OF = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.entity_id = CAST(:entity_id AS uuid) "
    "AND v.seq <= :as_of_seq ORDER BY v.version DESC LIMIT 1"
)
# The first record of the log created after a moment: the end of the prefix "as of" it.
FIRST_CREATED_AFTER = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.created_at > :moment ORDER BY v.seq LIMIT 1"
)
HISTORY = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.entity_id = CAST(:entity_id AS uuid) ORDER BY v.version"
)
# The current version of each of some entities (the highest version column; the guard
# then proves the row says what its signed bytes say).
CURRENT_VERSIONS = (
    "(SELECT DISTINCT ON (c.entity_id) c.* FROM registry.entity_versions AS c "
    "WHERE c.tenant_id = :tenant AND c.entity_id = ANY(CAST(:ids AS uuid[])) "
    "ORDER BY c.entity_id, c.version DESC) AS v"
)
CURRENT_RECORDS = sa.text(f"SELECT {RECORD_COLUMNS} FROM {CURRENT_VERSIONS}")
# What a write builds on, in one round trip after the append lock: the head record with
# its predecessor's chain hash (to check the link), and the current version of every
# entity the write supersedes or references.
WRITE_CONTEXT = sa.text(
    f"SELECT true AS is_head, {RECORD_COLUMNS}, p.chain_hash AS previous_chain_hash "
    "FROM registry.entity_versions AS v LEFT JOIN registry.entity_versions AS p "
    "ON p.tenant_id = v.tenant_id AND p.seq = v.seq - 1 "
    "WHERE v.tenant_id = :tenant AND v.seq = :head_seq "
    f"UNION ALL SELECT false, {RECORD_COLUMNS}, NULL::bytea FROM {CURRENT_VERSIONS}"
)
# The same, for the head as it stands when the statement runs: queued right behind
# begin_append, so it runs under the lock and finds the head begin_append returned,
# without waiting a round trip for that head's seq.
WRITE_CONTEXT_AT_HEAD = sa.text(
    WRITE_CONTEXT.text.replace(
        "v.seq = :head_seq",
        "v.seq = (SELECT max(h.seq) FROM registry.entity_versions AS h "
        "WHERE h.tenant_id = :tenant)",
    )
)
NAME_CONFLICTS = sa.text(
    "SELECT v.name_key FROM registry.entity_versions AS v "
    'WHERE v.tenant_id = :tenant AND v.entity_type = CAST(:entity_type AS text) COLLATE "C" '
    "AND v.name_key = ANY(CAST(:keys AS text[]) COLLATE \"C\") AND v.status <> 'retired' "
    "AND v.entity_id IS DISTINCT FROM CAST(:exclude AS uuid) "
    f"AND {IS_CURRENT}"
)
# One call for a single record or a batch of 1000 (registry.append_versions, whose plan
# PL/pgSQL caches per session): the rows travel as one JSON document, bytes as base64
# or hex and decoded exactly on the server, so the driver sends one text parameter
# instead of escaping array literals character by character.
APPEND_VERSIONS = sa.text(
    "SELECT registry.append_versions(:tenant, :created_at, :created_by, :key_id, "
    "CAST(:rows AS jsonb))"
)
LOG_RANGE = sa.text(
    f"SELECT {RECORD_COLUMNS} FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.seq >= :from_seq ORDER BY v.seq LIMIT :limit"
)
# A page of the log bounded by bytes as well as count: rows stop once the canonical
# bytes before them reach :max_bytes (the row that crosses is included, so a caller can
# tell a cut page from the end of the log).
LOG_PAGE = sa.text(
    f"SELECT * FROM (SELECT {RECORD_COLUMNS}, "
    "sum(octet_length(v.canonical)) OVER (ORDER BY v.seq) - octet_length(v.canonical) "
    "AS bytes_before FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.seq >= :from_seq ORDER BY v.seq LIMIT :limit) AS page "
    "WHERE page.bytes_before < :max_bytes ORDER BY page.seq"
)
# The leaves of a proof travel as two concatenated blobs rather than one row per record:
# decoding a thousand rows in the driver cost more than hashing them.
LEAVES = sa.text(
    "SELECT count(*), coalesce(max(v.seq), :after), "
    "string_agg(v.leaf_hash, ''::bytea ORDER BY v.seq), "
    "string_agg(v.chain_hash, ''::bytea ORDER BY v.seq) "
    "FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.seq > :after AND v.seq <= :upto"
)
FIRST_MISSING_SEQ = sa.text(
    "SELECT min(s) FROM generate_series(:after + 1, :upto) AS s WHERE NOT EXISTS ("
    "SELECT 1 FROM registry.entity_versions AS v WHERE v.tenant_id = :tenant AND v.seq = s)"
)
HEAD = sa.text(
    "SELECT v.seq, v.chain_hash FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant ORDER BY v.seq DESC LIMIT 1"
)
CHAIN_AT = sa.text(
    "SELECT v.chain_hash FROM registry.entity_versions AS v "
    "WHERE v.tenant_id = :tenant AND v.seq = :seq"
)
CHECKPOINT_COLUMNS = (
    "tenant_id, tree_size, root_hash, chain_head, created_at, key_id, signature, note"
)
LATEST_CHECKPOINT = sa.text(
    f"SELECT {CHECKPOINT_COLUMNS} FROM registry.checkpoints "
    "WHERE tenant_id = :tenant ORDER BY tree_size DESC LIMIT 1"
)
CHECKPOINT_AT = sa.text(
    f"SELECT {CHECKPOINT_COLUMNS} FROM registry.checkpoints "
    "WHERE tenant_id = :tenant AND tree_size = :size"
)
FRONTIER_AT = sa.text(
    "SELECT frontier FROM registry.checkpoints WHERE tenant_id = :tenant AND tree_size = :size"
)
ALL_CHECKPOINTS = sa.text(
    f"SELECT {CHECKPOINT_COLUMNS} FROM registry.checkpoints "
    "WHERE tenant_id = :tenant ORDER BY tree_size"
)
INSERT_CHECKPOINT = sa.text(
    f"INSERT INTO registry.checkpoints ({CHECKPOINT_COLUMNS}, frontier) VALUES (:tenant_id, "
    ":tree_size, :root_hash, :chain_head, :created_at, :key_id, :signature, :note, :frontier) "
    "ON CONFLICT (tenant_id, tree_size) DO NOTHING"
)
# One checkpoint signer per tenant at a time (docs/adr/0008-checkpoint-signing.md); a
# lock of its own, so signing never holds up the tenant's appends.
CHECKPOINT_LOCK_KEY = "hashtextextended('plant-registry/checkpoint/' || :tenant, 0)"
LOCK_CHECKPOINT = sa.text(f"SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK_KEY})")
TRY_LOCK_CHECKPOINT = sa.text(f"SELECT pg_try_advisory_xact_lock({CHECKPOINT_LOCK_KEY})")
# The outbox (migration 0007): checkpoints the publisher has not confirmed, oldest first.
UNPUBLISHED = sa.text(
    f"SELECT {CHECKPOINT_COLUMNS} FROM registry.checkpoints AS c "
    "WHERE c.tenant_id = :tenant AND NOT EXISTS (SELECT 1 FROM "
    "registry.checkpoint_publications AS p WHERE p.tenant_id = c.tenant_id "
    "AND p.tree_size = c.tree_size) ORDER BY c.tree_size LIMIT :limit"
)
MARK_PUBLISHED = sa.text(
    "INSERT INTO registry.checkpoint_publications (tenant_id, tree_size, created_at) "
    "SELECT :tenant, s, :published_at FROM unnest(CAST(:sizes AS bigint[])) AS s "
    "ON CONFLICT (tenant_id, tree_size) DO NOTHING"
)
BACKLOG = sa.text(
    "SELECT tenant_id, head_seq, checkpoint_size, first_unsigned_at, unpublished, "
    "oldest_unpublished_at FROM registry.checkpoint_backlog(:after, :limit)"
)
FIND_IDEMPOTENT = sa.text(
    "SELECT request_hash, response_body FROM registry.idempotency_keys "
    "WHERE tenant_id = :tenant AND idempotency_key = :key"
)
INSERT_IDEMPOTENT = sa.text(
    "INSERT INTO registry.idempotency_keys (tenant_id, idempotency_key, request_hash, "
    "response_body, created_at) VALUES (:tenant, :key, :request_hash, :body, :created_at)"
)
REGISTER_KEY = sa.text(
    "INSERT INTO registry.signing_keys (key_id, algorithm, public_key_pem, created_at) "
    "VALUES (:key_id, :algorithm, :pem, :created_at) ON CONFLICT (key_id) DO NOTHING"
)
# One bounded chunk of expiry, in its own short transaction.
EXPIRE_IDEMPOTENCY = sa.text(
    "SELECT set_config('lock_timeout', :lock_timeout, true), "
    "registry.expire_idempotency_keys(:retention_hours, :chunk)"
)
REVISION = sa.text("SELECT version_num FROM alembic_version")
