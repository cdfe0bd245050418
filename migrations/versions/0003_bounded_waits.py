"""Bounded waits: begin_append sets the transaction's timeouts before it takes the lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``begin_append(tenant, lock_timeout_ms, statement_timeout_ms, idle_timeout_ms)`` sets
``lock_timeout``, ``statement_timeout`` and ``idle_in_transaction_session_timeout`` with
``set_config(..., true)`` (transaction-local, like the tenant) and only then waits for the
tenant's advisory lock, so a stalled lock holder makes the waiter fail with SQLSTATE
55P03 after ``lock_timeout`` instead of hanging; all in the same single round trip as
before. The one-argument form is dropped: every caller passes the timeouts.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
RUNTIME = "registry_runtime"
NEW_SIGNATURE = "begin_append(text, integer, integer, integer)"
OLD_SIGNATURE = "begin_append(text)"

_HEAD_QUERY = f"""
            RETURN QUERY SELECT
                (SELECT v.seq FROM {SCHEMA}.entity_versions AS v
                 WHERE v.tenant_id = p_tenant ORDER BY v.seq DESC LIMIT 1),
                (SELECT v.chain_hash FROM {SCHEMA}.entity_versions AS v
                 WHERE v.tenant_id = p_tenant ORDER BY v.seq DESC LIMIT 1),
                (SELECT c.tree_size FROM {SCHEMA}.checkpoints AS c
                 WHERE c.tenant_id = p_tenant ORDER BY c.tree_size DESC LIMIT 1);
"""


def _create_bounded() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.begin_append(
            p_tenant text, p_lock_timeout_ms integer, p_statement_timeout_ms integer,
            p_idle_timeout_ms integer
        )
        RETURNS TABLE (head_seq bigint, head_chain_hash bytea, checkpoint_size bigint)
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog AS $$
        BEGIN
            IF p_tenant IS NULL OR p_tenant = '' THEN
                RAISE EXCEPTION 'begin_append needs a tenant' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF p_lock_timeout_ms IS NULL OR p_lock_timeout_ms < 1
               OR p_statement_timeout_ms IS NULL OR p_statement_timeout_ms < 1
               OR p_idle_timeout_ms IS NULL OR p_idle_timeout_ms < 1 THEN
                RAISE EXCEPTION 'begin_append needs positive timeouts'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM set_config('app.tenant_id', p_tenant, true);
            -- Bounded before the first wait: a stalled holder costs a waiter lock_timeout,
            -- never the whole function timeout. All three are transaction-local.
            PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
            PERFORM set_config('statement_timeout', p_statement_timeout_ms || 'ms', true);
            PERFORM set_config('idle_in_transaction_session_timeout', p_idle_timeout_ms || 'ms', true);
            -- One history per tenant: appends queue here until the holder commits.
            PERFORM pg_advisory_xact_lock(hashtextextended('plant-registry/append/' || p_tenant, 0));
            -- In READ COMMITTED each statement of a volatile function takes a new snapshot,
            -- so this read happens after the lock and sees the previous holder's append.
            {_HEAD_QUERY}
        END
        $$
        """
    )


def _create_unbounded() -> None:
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
            PERFORM pg_advisory_xact_lock(hashtextextended('plant-registry/append/' || p_tenant, 0));
            {_HEAD_QUERY}
        END
        $$
        """
    )


def _grant(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {SCHEMA}.{signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{signature} TO {RUNTIME}")


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"DROP FUNCTION {SCHEMA}.{OLD_SIGNATURE}")
    _create_bounded()
    _grant(NEW_SIGNATURE)
    op.execute("RESET ROLE")


def downgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.execute(f"DROP FUNCTION {SCHEMA}.{NEW_SIGNATURE}")
    _create_unbounded()
    _grant(OLD_SIGNATURE)
    op.execute("RESET ROLE")
