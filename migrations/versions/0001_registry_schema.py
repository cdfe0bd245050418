"""Registry schema: roles, append-only version log, checkpoints, keys, RLS.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

What this creates, and why each piece is here:
- ``registry_owner`` (NOLOGIN) owns every object, so no login ever owns a table;
  ``registry_runtime`` (NOLOGIN, no BYPASSRLS) may only SELECT and INSERT. The migration
  job (``shared.migration.run_migrations``) creates both roles, grants the owner role to
  the migrating login for the run and the runtime role to DB_RUNTIME_LOGINS: on Cloud SQL
  only ``SET ROLE cloudsqlsuperuser`` can create roles (docs/adr/0007). This revision
  only checks that it was started that way.
- Triggers refuse UPDATE, DELETE and TRUNCATE for every role, the owner included.
- Row-level security is ENABLEd and FORCEd on every tenant table, keyed on the
  transaction-local ``app.tenant_id`` setting; an unset or empty tenant sees nothing.
- ``begin_append`` sets the tenant, takes the tenant's advisory lock and returns the log
  head in one round trip; ``append_versions`` inserts sealed records, one or a thousand,
  in one call (see docs/adr/0004-append-lock-protocol.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
RUNTIME = "registry_runtime"
TENANT_TABLES = ("entity_versions", "checkpoints", "idempotency_keys")
APPEND_ONLY_TABLES = ("entity_versions", "checkpoints", "signing_keys", "idempotency_keys")
TENANT_SETTING = "NULLIF(current_setting('app.tenant_id', true), '')"


def _require_roles() -> None:
    # The roles are the migration job's to create and grant (ADR 0007); bare alembic on
    # Cloud SQL could not create them, so say how to migrate instead of failing later.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('{OWNER}', '{RUNTIME}')) < 2
               OR NOT pg_has_role(session_user, '{OWNER}', 'MEMBER') THEN
                RAISE EXCEPTION 'the roles {OWNER} and {RUNTIME} are not prepared for %',
                    session_user
                    USING HINT = 'Migrate with python -m tools.migrate (or '
                                 'shared.migration.run_migrations), which creates them.';
            END IF;
        END
        $$
        """
    )


def _create_tables() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.Text(), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_signing_keys"),
        sa.CheckConstraint(
            "algorithm IN ('Ed25519', 'ECDSA_P256_SHA256', 'RSA_PSS_SHA256')",
            name="ck_signing_keys_algorithm",
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "entity_versions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entity_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("canonical", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_entity_versions"),
        sa.UniqueConstraint(
            "tenant_id",
            "entity_id",
            "version",
            name="uq_entity_versions_tenant_id_entity_id_version",
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "entity_id",
            "supersedes",
            name="uq_entity_versions_tenant_id_entity_id_supersedes",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entity_id", "supersedes"],
            [
                f"{SCHEMA}.entity_versions.tenant_id",
                f"{SCHEMA}.entity_versions.entity_id",
                f"{SCHEMA}.entity_versions.version",
            ],
            name="fk_entity_versions_predecessor",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            [f"{SCHEMA}.signing_keys.key_id"],
            name="fk_entity_versions_key_id_signing_keys",
        ),
        sa.CheckConstraint(
            "tenant_id <> '' AND length(tenant_id) <= 128", name="ck_entity_versions_tenant_id"
        ),
        sa.CheckConstraint("seq >= 1", name="ck_entity_versions_seq_positive"),
        sa.CheckConstraint("version >= 1", name="ck_entity_versions_version_positive"),
        sa.CheckConstraint(
            "(version = 1 AND supersedes IS NULL) OR supersedes = version - 1",
            name="ck_entity_versions_supersedes",
        ),
        sa.CheckConstraint(
            "entity_type IN ('Skill', 'Industry', 'JobRole', 'Agent', 'Team')",
            name="ck_entity_versions_entity_type",
        ),
        sa.CheckConstraint(
            "octet_length(leaf_hash) = 32", name="ck_entity_versions_leaf_hash_size"
        ),
        sa.CheckConstraint(
            "octet_length(chain_hash) = 32", name="ck_entity_versions_chain_hash_size"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_entity_versions_tenant_id_entity_type_entity_id",
        "entity_versions",
        ["tenant_id", "entity_type", "entity_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_entity_versions_live_name",
        "entity_versions",
        ["tenant_id", "entity_type", "name_key"],
        schema=SCHEMA,
        postgresql_where=sa.text("status <> 'retired'"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("chain_head", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "tree_size", name="pk_checkpoints"),
        sa.ForeignKeyConstraint(
            ["key_id"], [f"{SCHEMA}.signing_keys.key_id"], name="fk_checkpoints_key_id_signing_keys"
        ),
        sa.CheckConstraint("tree_size >= 1", name="ck_checkpoints_tree_size_positive"),
        sa.CheckConstraint("octet_length(root_hash) = 32", name="ck_checkpoints_root_hash_size"),
        sa.CheckConstraint("octet_length(chain_head) = 32", name="ck_checkpoints_chain_head_size"),
        schema=SCHEMA,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name="pk_idempotency_keys"),
        sa.CheckConstraint(
            "length(idempotency_key) BETWEEN 1 AND 255",
            name="ck_idempotency_keys_idempotency_key_length",
        ),
        schema=SCHEMA,
    )


def _append_only_guards() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.refuse_mutation() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $$
        BEGIN
            RAISE EXCEPTION '%.% is append-only: % is refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Record a change as a new version that supersedes the old one.';
        END
        $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON {SCHEMA}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
        )
        op.execute(
            f"CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON {SCHEMA}.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
        )


def _row_level_security() -> None:
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {SCHEMA}.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_select ON {SCHEMA}.{table} FOR SELECT "
            f"USING (tenant_id = {TENANT_SETTING})"
        )
        op.execute(
            f"CREATE POLICY tenant_insert ON {SCHEMA}.{table} FOR INSERT "
            f"WITH CHECK (tenant_id = {TENANT_SETTING})"
        )


def _begin_append_function() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.begin_append(p_tenant text)
        RETURNS TABLE (head_seq bigint, head_chain_hash bytea, checkpoint_size bigint)
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog AS $$
        BEGIN
            IF p_tenant IS NULL OR p_tenant = '' THEN
                RAISE EXCEPTION 'begin_append needs a tenant' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM set_config('app.tenant_id', p_tenant, true);
            -- One history per tenant: appends queue here until the holder commits.
            PERFORM pg_advisory_xact_lock(hashtextextended('plant-registry/append/' || p_tenant, 0));
            -- In READ COMMITTED each statement of a volatile function takes a new snapshot,
            -- so this read happens after the lock and sees the previous holder's append.
            -- The latest checkpoint's size rides along so the writer knows when to sign one.
            RETURN QUERY SELECT
                (SELECT v.seq FROM {SCHEMA}.entity_versions AS v
                 WHERE v.tenant_id = p_tenant ORDER BY v.seq DESC LIMIT 1),
                (SELECT v.chain_hash FROM {SCHEMA}.entity_versions AS v
                 WHERE v.tenant_id = p_tenant ORDER BY v.seq DESC LIMIT 1),
                (SELECT c.tree_size FROM {SCHEMA}.checkpoints AS c
                 WHERE c.tenant_id = p_tenant ORDER BY c.tree_size DESC LIMIT 1);
        END
        $$
        """
    )


def _append_versions_function() -> None:
    # The whole append as one call whose plan PL/pgSQL keeps per session. Rows arrive as
    # one JSON document (bytes as base64 or hex, decoded exactly). The NOT EXISTS guard
    # skips a row whose name is already live for another entity of its tenant and type;
    # the caller compares the returned count and rolls back on a shortfall.
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.append_versions(
            p_tenant text, p_created_at timestamptz, p_created_by text, p_key_id text, p_rows jsonb
        ) RETURNS bigint
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog
        SET plan_cache_mode = force_custom_plan AS $$
        DECLARE
            inserted bigint;
        BEGIN
            INSERT INTO {SCHEMA}.entity_versions (tenant_id, seq, entity_id, version, supersedes,
                entity_type, status, name_key, created_at, created_by, reason, data, canonical,
                leaf_hash, chain_hash, signature, key_id)
            SELECT p_tenant, r.seq, r.entity_id, r.version, r.supersedes, r.entity_type, r.status,
                r.name_key, p_created_at, p_created_by, r.reason, r.data,
                decode(r.canonical, 'base64'), decode(r.leaf_hash, 'hex'),
                decode(r.chain_hash, 'hex'), decode(r.signature, 'base64'), p_key_id
            FROM jsonb_to_recordset(p_rows) AS r(seq bigint, entity_id uuid, version integer,
                supersedes integer, entity_type text, status text, name_key text, reason text,
                data jsonb, canonical text, leaf_hash text, chain_hash text, signature text)
            WHERE r.status = 'retired' OR NOT EXISTS (
                SELECT 1 FROM {SCHEMA}.entity_versions AS v
                WHERE v.tenant_id = p_tenant AND v.entity_type = r.entity_type
                  AND v.name_key = r.name_key AND v.status <> 'retired'
                  AND v.entity_id <> r.entity_id
                  AND NOT EXISTS (
                      SELECT 1 FROM {SCHEMA}.entity_versions AS s
                      WHERE s.tenant_id = v.tenant_id AND s.entity_id = v.entity_id
                        AND s.supersedes = v.version));
            GET DIAGNOSTICS inserted = ROW_COUNT;
            RETURN inserted;
        END
        $$
        """
    )


def _grants() -> None:
    op.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {RUNTIME}")
    for table in APPEND_ONLY_TABLES:
        op.execute(f"REVOKE ALL ON {SCHEMA}.{table} FROM PUBLIC")
        op.execute(f"GRANT SELECT, INSERT ON {SCHEMA}.{table} TO {RUNTIME}")
    appends = ("begin_append(text)", "append_versions(text, timestamptz, text, text, jsonb)")
    for function in (*appends, "refuse_mutation()"):
        op.execute(f"REVOKE ALL ON FUNCTION {SCHEMA}.{function} FROM PUBLIC")
    for function in appends:
        op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{function} TO {RUNTIME}")


def upgrade() -> None:
    _require_roles()
    op.execute(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {OWNER}")
    op.execute(f"SET LOCAL ROLE {OWNER}")
    _create_tables()
    _append_only_guards()
    _row_level_security()
    _begin_append_function()
    _append_versions_function()
    _grants()
    op.execute("RESET ROLE")
    # /healthz reads the revision as the runtime role.
    op.execute(f"GRANT SELECT ON alembic_version TO {RUNTIME}")


def downgrade() -> None:
    # Roles are cluster-wide and may serve other databases, so they stay; every object
    # of this database goes.
    op.execute(f"REVOKE ALL ON alembic_version FROM {RUNTIME}")
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
