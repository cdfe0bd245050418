"""The Cloud SQL role model (ADR 0007), proven offline on Cloud SQL's role shape.

Each server (PostgreSQL 16, the deployed default, and 18) is built like a fresh Cloud SQL
instance (tests/integration/cloudsql.py); the real job entry point, ``python -m
tools.migrate``, runs as the migrator IAM user, which is only a member of
``cloudsqlsuperuser``. Then: the runtime logins hold exactly the runtime role; neither the
migrator nor another ``cloudsqlsuperuser`` member can act as the owner; the one thing such
a member can still do (grant itself the owner role, which ADR 0007 accepts as the DBA
boundary) is caught by the audit and by the next job run; RLS and the append-only guards
hold for the runtime login.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.exc import DBAPIError

from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, Principal
from shared.core.queries import get_entity
from shared.core.signing import LocalSigner
from shared.db import engine_for_url
from shared.schema import OWNER_ROLE, RUNTIME_ROLE
from shared.service import Registry
from tests.integration.cloudsql import (
    IAM_MARKER,
    ROLE_ADMIN,
    SimulatedCloudSql,
    simulated_cloud_sql,
)
from tests.integration.helpers import create, skill_data

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCOPES = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN})


def run_job(
    instance: SimulatedCloudSql, *, login: str | None = None, logins: tuple[str, ...] | None = None
) -> subprocess.CompletedProcess[str]:
    """The migration job's entry point, with the job's environment (tools/migrate.py).

    The Cloud Run job reaches Cloud SQL through the Python Connector with an IAM token
    (INSTANCE_CONNECTION_NAME, DB_USER, DB_IAM_AUTH); here the same login connects with
    MIGRATION_DATABASE_URL. Everything after the connection is the job's own code.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        "MIGRATION_DATABASE_URL": instance.url(login or instance.migrator),
        "DB_RUNTIME_LOGINS": ",".join(instance.runtime_logins if logins is None else logins),
        "LOG_LEVEL": "INFO",
    }
    return subprocess.run(
        [sys.executable, "-m", "tools.migrate"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module", params=[16, 18], ids=lambda v: f"pg{v}")
def instance(request: pytest.FixtureRequest) -> Iterator[SimulatedCloudSql]:
    # Not tmp_path: the embedded server runs as its own user, which must reach the
    # directory (conftest.py makes its server's directory the same way).
    workdir = Path(tempfile.mkdtemp(prefix=f"registry-cloudsql-pg{request.param}-"))
    try:
        with simulated_cloud_sql(workdir, postgres_version=request.param) as sim:
            result = run_job(sim)
            assert result.returncode == 0, result.stderr
            assert f"roles created through {ROLE_ADMIN}" in result.stdout, result.stdout
            yield sim
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(instance: SimulatedCloudSql) -> Iterator[Registry]:
    engine = engine_for_url(instance.url(instance.runtime_logins[0]))
    signer = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
    yield Registry(engine, signer, {signer.key_id: signer.public_key})
    engine.dispose()


def principal(tenant: str) -> Principal:
    return Principal(subject="ops@example.com", tenant_id=tenant, scopes=SCOPES)


def refused(instance: SimulatedCloudSql, login: str, *statements: str) -> str:
    """Run statements as ``login`` in one transaction; return the error they raise."""
    engine = instance.engine(login)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    raise AssertionError(f"{login} was allowed: {statements}")


def test_the_migrator_alone_cannot_create_roles(instance: SimulatedCloudSql) -> None:
    """The premise: membership in cloudsqlsuperuser does not carry CREATEROLE."""
    error = refused(instance, instance.migrator, "CREATE ROLE probe_role NOLOGIN")
    assert "permission denied to create role" in error


def test_runtime_logins_hold_exactly_the_runtime_role(instance: SimulatedCloudSql) -> None:
    for login in instance.runtime_logins:
        assert instance.memberships(login) == {RUNTIME_ROLE, IAM_MARKER}
        assert instance.can(login, RUNTIME_ROLE, "USAGE")
        assert not instance.can(login, OWNER_ROLE, "MEMBER")
        assert not instance.can(login, ROLE_ADMIN, "MEMBER")


def test_owner_role_is_held_by_nobody_after_the_run(instance: SimulatedCloudSql) -> None:
    for login in (instance.migrator, instance.dba):
        assert not instance.can(login, OWNER_ROLE, "SET"), login
        assert not instance.can(login, OWNER_ROLE, "USAGE"), login
        error = refused(instance, login, f"SET ROLE {OWNER_ROLE}")
        assert "permission denied to set role" in error, error
    # The migrator cannot use the owner's privileges on the schema either.
    error = refused(
        instance, instance.migrator, "ALTER TABLE registry.entity_versions DISABLE TRIGGER ALL"
    )
    assert "permission denied for schema registry" in error or "must be owner" in error, error


def test_only_cloudsqlsuperuser_administers_the_registry_roles(
    instance: SimulatedCloudSql,
) -> None:
    with instance.superuser().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT g.rolname, m.rolname, a.admin_option, a.inherit_option, a.set_option "
                "FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = :owner"
            ),
            {"owner": OWNER_ROLE},
        ).all()
        owners = conn.execute(
            sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'registry'")
        ).all()
    # ADMIN only, neither INHERIT nor SET: the creator's grant that PostgreSQL 16+ adds.
    assert rows == [(OWNER_ROLE, ROLE_ADMIN, True, False, False)]
    assert owners == [(OWNER_ROLE,)]


def test_rls_and_append_only_hold_for_the_runtime_login(
    instance: SimulatedCloudSql, registry: Registry
) -> None:
    tenant, other = "tenant-sim-a", "tenant-sim-b"
    record = create(registry, principal(tenant), "Skill", skill_data())
    assert (
        registry.get(principal(tenant), get_entity(record.entity_id)).entity_id == record.entity_id
    )
    login = instance.runtime_logins[1]
    engine = instance.engine(login)
    try:
        with engine.begin() as conn:
            count = "SELECT count(*) FROM registry.entity_versions"
            assert conn.scalar(sa.text(count)) == 0  # no tenant set: fail closed
            conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": other})
            assert conn.scalar(sa.text(count)) == 0
            conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant})
            assert conn.scalar(sa.text(count)) == 1
    finally:
        engine.dispose()
    for statement in (
        "UPDATE registry.entity_versions SET reason = 'x'",
        "DELETE FROM registry.entity_versions",
        "TRUNCATE registry.entity_versions",
        "ALTER TABLE registry.entity_versions DISABLE TRIGGER ALL",
        f"SET ROLE {OWNER_ROLE}",
    ):
        error = refused(
            instance, login, f"SELECT set_config('app.tenant_id', '{tenant}', true)", statement
        )
        assert "permission denied" in error or "must be owner" in error, (statement, error)


def test_a_second_run_is_a_no_op_that_adds_new_runtime_logins(
    instance: SimulatedCloudSql,
) -> None:
    newcomer = "registry-sim-verify@plant-sim.iam"
    instance.add_login(newcomer)
    result = run_job(instance, logins=(*instance.runtime_logins, newcomer))
    assert result.returncode == 0, result.stderr
    assert "roles created through cloudsqlsuperuser: none" in result.stdout
    assert instance.memberships(newcomer) == {RUNTIME_ROLE, IAM_MARKER}
    assert not instance.can(instance.migrator, OWNER_ROLE, "SET")


def test_a_runtime_login_with_cloudsqlsuperuser_fails_the_job(
    instance: SimulatedCloudSql,
) -> None:
    """The Admin API's default roles, had database_roles not been pinned to []."""
    risky = "registry-sim-risky@plant-sim.iam"
    instance.add_login(risky, ROLE_ADMIN)
    result = run_job(instance, logins=(*instance.runtime_logins, risky))
    assert result.returncode == 1
    assert f"runtime login {risky} also holds {ROLE_ADMIN}" in result.stderr
    assert "nothing committed" in result.stderr
    assert RUNTIME_ROLE not in instance.memberships(risky)  # rolled back


def test_a_login_without_cloudsqlsuperuser_cannot_migrate(instance: SimulatedCloudSql) -> None:
    plain = "registry-sim-plain@plant-sim.iam"
    instance.add_login(plain)
    result = run_job(instance, login=plain)
    assert result.returncode == 1
    assert "cannot SET ROLE to cloudsqlsuperuser" in result.stderr


def test_a_dba_who_takes_the_owner_role_is_caught(
    instance: SimulatedCloudSql, registry: Registry
) -> None:
    """What ADR 0007 accepts: a cloudsqlsuperuser member can grant itself the owner role.
    What it then does is found by the audit, and the next job run refuses to proceed."""
    tenant = "tenant-sim-tampered"
    records = [create(registry, principal(tenant), "Skill", skill_data()) for _ in range(3)]
    assert registry.audit(principal(tenant)).valid
    dba = instance.engine(instance.dba)
    try:
        with dba.begin() as conn:
            conn.exec_driver_sql(f"SET ROLE {ROLE_ADMIN}")
            conn.exec_driver_sql(f'GRANT {OWNER_ROLE} TO "{instance.dba}"')
        with dba.begin() as conn:
            conn.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
            conn.exec_driver_sql("ALTER TABLE registry.entity_versions DISABLE TRIGGER USER")
            conn.exec_driver_sql("ALTER TABLE registry.entity_versions NO FORCE ROW LEVEL SECURITY")
            changed = conn.execute(
                sa.text(
                    "UPDATE registry.entity_versions SET canonical = convert_to("
                    "replace(convert_from(canonical, 'UTF8'), 'Writes', 'Wrotes'), 'UTF8') "
                    "WHERE tenant_id = :t AND seq = 2"
                ),
                {"t": tenant},
            )
            assert changed.rowcount == 1
        report = registry.audit(principal(tenant)).to_dict()
        assert report["valid"] is False, report
        assert report["first_bad_seq"] == 2, report
        result = run_job(instance)
        assert result.returncode == 1
        for finding in (
            f"{instance.dba} can still become {OWNER_ROLE}",
            "is disabled",
            "row-level security on registry.entity_versions is not FORCEd",
        ):
            assert finding in result.stderr, (finding, result.stderr)
    finally:
        # Put the instance back for the tests that follow in this module.
        with dba.begin() as conn:
            conn.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
            conn.exec_driver_sql("ALTER TABLE registry.entity_versions ENABLE TRIGGER USER")
            conn.exec_driver_sql("ALTER TABLE registry.entity_versions FORCE ROW LEVEL SECURITY")
        with dba.begin() as conn:
            conn.exec_driver_sql(f"SET ROLE {ROLE_ADMIN}")
            conn.exec_driver_sql(f'REVOKE {OWNER_ROLE} FROM "{instance.dba}"')
        dba.dispose()
    assert records
