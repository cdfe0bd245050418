"""UPDATE, DELETE and TRUNCATE are refused on every log table: by grants for the runtime
role, and by triggers for everyone else, the owner included."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared.core.commands import IdempotencyKey, create_entity, parse_batch
from shared.core.principal import Principal
from shared.schema import APPEND_ONLY_TABLES
from shared.service import Registry
from tests.integration.helpers import certified_skill, skill_data

pytestmark = pytest.mark.integration

MUTATIONS = {
    "update": "UPDATE registry.{table} SET created_at = created_at",
    "delete": "DELETE FROM registry.{table}",
    # CASCADE, so foreign keys cannot be what stops it: the trigger must.
    "truncate": "TRUNCATE registry.{table} CASCADE",
}


@pytest.fixture
def populated(registry: Registry, admin: Principal) -> str:
    """A tenant with rows in every table (version log, checkpoint and its publication,
    key, idempotency, and a full tile: 256 records)."""
    certified_skill(registry, admin)
    registry.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(253)]}
        ),
    )
    registry.create(
        admin,
        create_entity("Industry", {"name": "Energy", "description": "d"}),
        idempotency_key=IdempotencyKey("k"),
    )
    checkpoint = registry.sign_checkpoint(admin)
    with registry.repository.tenant_transaction(admin.tenant_id) as tx:
        tx.mark_published([checkpoint.tree_size], checkpoint.created_at)
    return admin.tenant_id


def _sqlstate(error: sa_exc.DBAPIError) -> str:
    assert error.orig is not None
    return str(error.orig.args[0]["C"])


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_runtime_role_is_refused_by_grants(
    runtime_engine: Engine, populated: str, table: str, mutation: str
) -> None:
    with pytest.raises(sa_exc.ProgrammingError) as err, runtime_engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": populated})
        conn.execute(sa.text(MUTATIONS[mutation].format(table=table)))
    assert _sqlstate(err.value) == "42501"
    assert "permission denied" in str(err.value)


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_owner_is_refused_by_triggers(
    admin_engine: Engine, populated: str, table: str, mutation: str
) -> None:
    # FORCEd RLS has no UPDATE or DELETE policy, so the owner would touch zero rows and
    # the triggers would never be reached. Lift FORCE inside this (rolled back)
    # transaction to prove the triggers stand on their own.
    with pytest.raises(sa_exc.DBAPIError) as err, admin_engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE registry.{table} NO FORCE ROW LEVEL SECURITY"))
        conn.execute(sa.text("SET LOCAL ROLE registry_owner"))
        conn.execute(sa.text(MUTATIONS[mutation].format(table=table)))
    assert "append-only" in str(err.value)


@pytest.mark.parametrize(
    "table",
    ["entity_versions", "checkpoints", "checkpoint_publications", "idempotency_keys", "tiles"],
)
@pytest.mark.parametrize("mutation", ["update", "delete"])
def test_owner_under_forced_rls_changes_nothing(
    admin_engine: Engine, populated: str, table: str, mutation: str
) -> None:
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE registry_owner"))
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": populated})
        before = conn.scalar(sa.text(f"SELECT count(*) FROM registry.{table}"))
        assert before
        result = conn.execute(sa.text(MUTATIONS[mutation].format(table=table)))
        assert result.rowcount == 0
        assert conn.scalar(sa.text(f"SELECT count(*) FROM registry.{table}")) == before


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_even_a_superuser_hits_the_trigger(
    admin_engine: Engine, populated: str, table: str
) -> None:
    with pytest.raises(sa_exc.DBAPIError, match="append-only"), admin_engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM registry.{table}"))


def test_nothing_changed(runtime_engine: Engine, populated: str) -> None:
    with runtime_engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": populated})
        assert conn.scalar(sa.text("SELECT count(*) FROM registry.entity_versions")) == 256
        assert conn.scalar(sa.text("SELECT count(*) FROM registry.tiles")) == 1


def test_runtime_role_privileges_are_exactly_select_and_insert(admin_engine: Engine) -> None:
    with admin_engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = 'registry_runtime' AND table_schema = 'registry'"
            )
        ).all()
        roles = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles "
                "WHERE rolname IN ('registry_runtime', 'registry_owner')"
            )
        ).all()
        owners = conn.execute(
            sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'registry'")
        ).all()
    assert {(t, p) for t, p in rows} == {
        (t, p) for t in APPEND_ONLY_TABLES for p in ("SELECT", "INSERT")
    }
    assert all(not superuser and not bypass and not login for _, superuser, bypass, login in roles)
    assert owners == [("registry_owner",)]


def test_rls_is_forced_on_every_tenant_table(admin_engine: Engine) -> None:
    with admin_engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'registry' AND c.relkind = 'r'"
            )
        ).all()
    forced = {name for name, enabled, force in rows if enabled and force}
    assert forced == {
        "entity_versions",
        "checkpoints",
        "checkpoint_publications",
        "idempotency_keys",
        "tiles",
    }
