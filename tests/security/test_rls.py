"""Row-level security, proven with the runtime login and with the owner under FORCE."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from shared.core.principal import Principal
from shared.core.queries import read_log
from shared.db import engine_for_url
from shared.service import Registry
from tests.conftest import Database
from tests.integration.helpers import create, skill_data

pytestmark = pytest.mark.integration

COUNT = sa.text("SELECT count(*) FROM registry.entity_versions")
SET_TENANT = sa.text("SELECT set_config('app.tenant_id', :t, true)")


@pytest.fixture
def two_tenants(registry: Registry, admin: Principal) -> tuple[str, str]:
    other = Principal("carol", f"other-{uuid.uuid4().hex[:8]}", admin.scopes)
    create(registry, admin, "Skill", skill_data())
    create(registry, other, "Skill", skill_data())
    create(registry, other, "Skill", skill_data())
    return admin.tenant_id, other.tenant_id


def _count(conn: Connection, tenant: str | None) -> int:
    if tenant is not None:
        conn.execute(SET_TENANT, {"t": tenant})
    return int(conn.scalar(COUNT) or 0)


def test_each_tenant_sees_only_its_rows(
    runtime_engine: Engine, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    with runtime_engine.begin() as conn:
        assert _count(conn, a) == 1
    with runtime_engine.begin() as conn:
        assert _count(conn, b) == 2
        ids = conn.execute(sa.text("SELECT DISTINCT tenant_id FROM registry.entity_versions")).all()
        assert ids == [(b,)]


@pytest.mark.parametrize("setting", [None, ""])
def test_no_tenant_sees_nothing(
    runtime_engine: Engine, two_tenants: tuple[str, str], setting: str | None
) -> None:
    with runtime_engine.begin() as conn:
        if setting is not None:
            conn.execute(SET_TENANT, {"t": setting})
        assert _count(conn, None) == 0
        assert conn.scalar(sa.text("SELECT count(*) FROM registry.checkpoints")) == 0


def _insert_row(conn: Connection, row_tenant: str) -> None:
    conn.execute(
        sa.text("INSERT INTO registry.idempotency_keys VALUES (:t, :k, :h, :b, now())"),
        {"t": row_tenant, "k": uuid.uuid4().hex, "h": b"\0" * 32, "b": b"[]"},
    )


def test_cannot_insert_another_tenants_rows(
    runtime_engine: Engine, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    with (
        pytest.raises(sa_exc.ProgrammingError, match="row-level security"),
        runtime_engine.begin() as conn,
    ):
        conn.execute(SET_TENANT, {"t": a})
        _insert_row(conn, b)
    with (
        pytest.raises(sa_exc.ProgrammingError, match="row-level security"),
        runtime_engine.begin() as conn,
    ):
        _insert_row(conn, a)  # no tenant set at all
    with runtime_engine.begin() as conn:  # the same insert for one's own tenant works
        conn.execute(SET_TENANT, {"t": a})
        _insert_row(conn, a)


def test_owner_under_force_sees_nothing_without_tenant(
    admin_engine: Engine, two_tenants: tuple[str, str]
) -> None:
    a, _ = two_tenants
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE registry_owner"))
        assert _count(conn, None) == 0
        assert _count(conn, a) == 1


def test_tenant_setting_does_not_outlive_the_transaction(
    database: Database, two_tenants: tuple[str, str]
) -> None:
    """A pooled connection reused by another tenant sees only that tenant's rows."""
    a, b = two_tenants
    engine = engine_for_url(database.runtime_url)  # pool of 5; force reuse of one connection
    try:
        with engine.connect() as conn:
            with conn.begin():
                assert _count(conn, a) == 1
            with conn.begin():
                assert _count(conn, None) == 0, (
                    "tenant A's setting leaked into the next transaction"
                )
            with conn.begin():
                assert _count(conn, b) == 2
                pid = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        with engine.connect() as conn, conn.begin():
            assert conn.scalar(sa.text("SELECT pg_backend_pid()")) == pid  # the same session
            assert _count(conn, None) == 0
    finally:
        engine.dispose()


def test_registry_reads_are_tenant_scoped_through_the_pool(
    registry: Registry, admin: Principal, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    for _ in range(3):  # interleave tenants over the same small pool
        assert len(registry.log(Principal("x", a, admin.scopes), read_log()).items) == 1
        assert len(registry.log(Principal("y", b, admin.scopes), read_log()).items) == 2
