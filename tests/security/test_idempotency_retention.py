"""Idempotency retention (ADR 0009): expiry deletes exactly expired keys, nothing else.

The log tables stay append-only for every role; on idempotency_keys the only DELETE that
passes the trigger is registry.expire_idempotency_keys removing rows past a retention of
at least one hour. The runtime login still cannot delete anything itself.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared.core.commands import IdempotencyKey, create_entity, parse_batch
from shared.core.principal import Principal
from shared.core.queries import read_log
from shared.service import Registry
from tests.integration.helpers import skill_data

pytestmark = pytest.mark.integration


def _keys(admin_engine: Engine, tenant: str) -> set[str]:
    with admin_engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idempotency_key FROM registry.idempotency_keys WHERE tenant_id = :t"),
            {"t": tenant},
        )
        return {row[0] for row in rows}


def _age(admin_engine: Engine, tenant: str, key: str, hours: int) -> None:
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text(
                "UPDATE registry.idempotency_keys SET created_at = now() - make_interval("
                "hours => :h) WHERE tenant_id = :t AND idempotency_key = :k"
            ),
            {"h": hours, "t": tenant, "k": key},
        )


def test_expiry_removes_only_keys_past_retention(
    registry: Registry, admin: Principal, admin_engine: Engine
) -> None:
    for key in ("old", "fresh"):
        registry.create(
            admin, create_entity("Skill", skill_data()), idempotency_key=IdempotencyKey(key)
        )
    _age(admin_engine, admin.tenant_id, "old", 25)
    result = registry.expire_idempotency()
    assert result["retention_hours"] == 24
    assert result["removed"] >= 1
    assert _keys(admin_engine, admin.tenant_id) == {"fresh"}
    # The log is untouched, and the expired key can be used again for a new write.
    assert registry.log(admin, read_log()).items[-1].seq == 2
    again = registry.create(
        admin, create_entity("Skill", skill_data()), idempotency_key=IdempotencyKey("old")
    )
    assert not again.replayed


def test_an_idempotent_batch_stores_a_small_row_and_replays_identically(
    registry: Registry, admin: Principal, admin_engine: Engine
) -> None:
    batch = [{"entity_type": "Skill", "data": skill_data()} for _ in range(200)]
    first = registry.create(
        admin, parse_batch({"entities": batch}), idempotency_key=IdempotencyKey("big")
    )
    with admin_engine.connect() as conn:
        size = conn.execute(
            sa.text(
                "SELECT octet_length(response_body) FROM registry.idempotency_keys "
                "WHERE tenant_id = :t AND idempotency_key = 'big'"
            ),
            {"t": admin.tenant_id},
        ).scalar()
    assert size is not None and size < 200
    replay = registry.create(
        admin, parse_batch({"entities": batch}), idempotency_key=IdempotencyKey("big")
    )
    assert replay.replayed
    assert [r.to_dict() for r in replay.records] == [r.to_dict() for r in first.records]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM registry.idempotency_keys",
        "DELETE FROM registry.entity_versions",
        "DELETE FROM registry.checkpoints",
        "UPDATE registry.idempotency_keys SET created_at = now()",
    ],
)
def test_the_runtime_login_still_cannot_delete_or_update(
    runtime_engine: Engine, admin: Principal, statement: str
) -> None:
    with runtime_engine.connect() as conn, pytest.raises(sa_exc.ProgrammingError):
        conn.execute(
            sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": admin.tenant_id}
        )
        # Even with the expiry marker set by hand: the grant refuses first.
        conn.execute(sa.text("SELECT set_config('registry.expiring_idempotency_keys', 'on', true)"))
        conn.execute(sa.text(statement))


def test_the_owner_cannot_delete_log_rows_or_fresh_keys_even_with_the_marker(
    registry: Registry, admin: Principal, admin_engine: Engine
) -> None:
    registry.create(
        admin, create_entity("Skill", skill_data()), idempotency_key=IdempotencyKey("fresh-owner")
    )
    for statement in (
        "DELETE FROM registry.entity_versions WHERE tenant_id = :t",
        "DELETE FROM registry.idempotency_keys WHERE tenant_id = :t",
    ):
        with admin_engine.connect() as conn:
            conn.execute(sa.text("SET LOCAL ROLE registry_owner"))
            conn.execute(
                sa.text("SELECT set_config('registry.expiring_idempotency_keys', 'on', true)")
            )
            # Log rows stay invisible to the owner's DELETE (no policy); a fresh key is
            # visible but the trigger refuses it. Either way nothing goes.
            try:
                deleted = conn.execute(sa.text(statement), {"t": admin.tenant_id}).rowcount
            except sa_exc.DBAPIError:
                deleted = 0
            conn.commit() if deleted else conn.rollback()
            assert deleted == 0, statement
    assert "fresh-owner" in _keys(admin_engine, admin.tenant_id)
    assert registry.log(admin, read_log()).items[-1].seq == 1


def test_expiry_refuses_a_retention_under_one_hour(runtime_engine: Engine) -> None:
    with runtime_engine.connect() as conn, pytest.raises(sa_exc.DBAPIError):
        conn.execute(sa.text("SELECT registry.expire_idempotency_keys(0, 10)"))
