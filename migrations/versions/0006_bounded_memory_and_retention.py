"""Bounded memory and idempotency retention.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

1. ``append_versions`` derives the jsonb ``data`` copy from the canonical bytes it
   stores (``canonical -> 'data'``) instead of receiving the data a second time: a batch
   of large records then travels once, and the filtering copy cannot disagree with the
   signed bytes.
2. Idempotency keys expire (docs/adr/0009-idempotency-retention.md). The log tables stay
   append-only; on ``idempotency_keys`` the row trigger now allows exactly one DELETE:
   by ``registry.expire_idempotency_keys``, a SECURITY DEFINER function owned by
   ``registry_owner``, of rows older than the retention it is given (at least one hour),
   while that function has set its transaction-local marker. The runtime role gets
   EXECUTE on the function and still no DELETE privilege on any table; every other
   DELETE, every UPDATE and TRUNCATE stay refused for every role.
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
RUNTIME = "registry_runtime"
EXPIRE = "expire_idempotency_keys(integer, integer)"
MARKER = "registry.expiring_idempotency_keys"
MIN_RETENTION_HOURS = 1

_STORED_DATA = "(convert_from(decode(r.canonical, 'base64'), 'UTF8')::jsonb -> 'data')"


def _append_versions_source() -> str:
    """The 0001 definition, taken from that migration so the two cannot drift apart."""
    source = (Path(__file__).with_name("0001_registry_schema.py")).read_text()
    start = source.index("CREATE FUNCTION {SCHEMA}.append_versions(")
    end = source.index('$$\n        """', start) + 2
    return source[start:end].replace("{SCHEMA}", SCHEMA)


def _replace_append_versions(data_expression: str) -> None:
    body = _append_versions_source().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    old = "p_created_by, r.reason, r.data,"
    assert old in body, "append_versions changed shape; update migration 0006"
    op.execute(body.replace(old, f"p_created_by, r.reason, {data_expression},"))


def _retention() -> None:
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], schema=SCHEMA
    )
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.guard_idempotency_mutation() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $$
        BEGIN
            IF TG_OP = 'DELETE'
               AND current_user = '{OWNER}'
               AND current_setting('{MARKER}', true) = 'on'
               AND OLD.created_at < now() - make_interval(hours => {MIN_RETENTION_HOURS}) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '%.% is append-only: % is refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Expired keys are removed only by {SCHEMA}.expire_idempotency_keys.';
        END
        $$
        """
    )
    op.execute(f"DROP TRIGGER refuse_update_delete ON {SCHEMA}.idempotency_keys")
    op.execute(
        f"CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON {SCHEMA}.idempotency_keys "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.guard_idempotency_mutation()"
    )
    # Row-level security is FORCEd, so the owner sees rows only through policies: these
    # two open every tenant's rows to the owner while the expiry marker is set.
    for command in ("SELECT", "DELETE"):
        op.execute(
            f"CREATE POLICY expiry_{command.lower()} ON {SCHEMA}.idempotency_keys "
            f"FOR {command} TO {OWNER} USING (current_setting('{MARKER}', true) = 'on')"
        )
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.expire_idempotency_keys(
            p_retention_hours integer, p_limit integer
        ) RETURNS bigint
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
        DECLARE
            removed bigint;
        BEGIN
            IF p_retention_hours IS NULL OR p_retention_hours < {MIN_RETENTION_HOURS} THEN
                RAISE EXCEPTION 'retention must be at least {MIN_RETENTION_HOURS} hour(s)'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100000 THEN
                RAISE EXCEPTION 'limit must be between 1 and 100000'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM set_config('{MARKER}', 'on', true);
            DELETE FROM {SCHEMA}.idempotency_keys
            WHERE ctid = ANY (ARRAY(
                SELECT k.ctid FROM {SCHEMA}.idempotency_keys AS k
                WHERE k.created_at < now() - make_interval(hours => p_retention_hours)
                ORDER BY k.created_at LIMIT p_limit));
            GET DIAGNOSTICS removed = ROW_COUNT;
            PERFORM set_config('{MARKER}', 'off', true);
            RETURN removed;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SCHEMA}.{EXPIRE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{EXPIRE} TO {RUNTIME}")


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    _replace_append_versions(_STORED_DATA)
    _retention()
    op.execute("RESET ROLE")


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"DROP FUNCTION {SCHEMA}.{EXPIRE}")
    for command in ("select", "delete"):
        op.execute(f"DROP POLICY expiry_{command} ON {SCHEMA}.idempotency_keys")
    op.execute(f"DROP TRIGGER refuse_update_delete ON {SCHEMA}.idempotency_keys")
    op.execute(
        f"CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON {SCHEMA}.idempotency_keys "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_mutation()"
    )
    op.execute(f"DROP FUNCTION {SCHEMA}.guard_idempotency_mutation()")
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys", schema=SCHEMA)
    _replace_append_versions("coalesce(r.data, " + _STORED_DATA + ")")
    op.execute("RESET ROLE")
