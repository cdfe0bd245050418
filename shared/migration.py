"""Run the alembic migrations inside the registry's role protocol (ADR 0007).

Every way the schema is migrated goes through ``run_migrations``: the Cloud Run job
(``python -m tools.migrate``), ``make migrate``, the dev server and the tests. In one
transaction it

1. finds who may create roles: the login itself when it has CREATEROLE (or is a
   superuser), otherwise ``cloudsqlsuperuser`` through ``SET ROLE`` (on Cloud SQL the
   migrator is only a member of it, and membership does not carry CREATEROLE);
2. creates ``registry_owner`` and ``registry_runtime`` (NOLOGIN, no attributes) when
   they are missing, and checks their attributes when they exist;
3. grants ``registry_owner`` to the migrating login for this run only;
4. creates the pgaudit extension where the server has loaded the library;
5. runs ``alembic upgrade`` (or downgrade);
6. grants ``registry_runtime`` to every login in ``runtime_logins`` (DB_RUNTIME_LOGINS);
7. revokes the run's ``registry_owner`` grant, so no login holds it between runs;
8. checks the result and fails (rolling everything back) when a runtime login holds
   anything but ``registry_runtime``, when a login that is not a superuser can still
   become ``registry_owner``, or when an append-only guard or row-level security has
   been switched off.

Example::

    report = upgrade_database("postgresql+pg8000://migrator@/registry?unix_sock=...",
                              ["registry_app"])
    print(report.summary())
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from shared.db import engine_for_url
from shared.schema import OWNER_ROLE, RUNTIME_ROLE, SCHEMA

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

# Cloud SQL's role that holds CREATEROLE; its members (the migrator, `postgres`) may
# SET ROLE to it.
CLOUD_SQL_ROLE_ADMIN = "cloudsqlsuperuser"
# Roles Cloud SQL itself makes every IAM login a member of. They carry no privilege, so a
# runtime login may hold them next to registry_runtime.
PLATFORM_MARKER_ROLES = frozenset({"cloudsqliamserviceaccount", "cloudsqliamuser"})
# Tables whose rows the runtime role may only ever INSERT and SELECT.
LOG_TABLES = ("entity_versions", "checkpoints", "signing_keys")

_log = logging.getLogger(__name__)


class RoleModelError(RuntimeError):
    """The database does not have, or cannot be given, the role model of ADR 0007."""


@dataclasses.dataclass(frozen=True)
class MigrationReport:
    """What one migration run did and found."""

    login: str
    role_creator: str  # the login itself, or the role it SET ROLE to (cloudsqlsuperuser)
    created_roles: tuple[str, ...]
    runtime_logins: tuple[str, ...]
    pgaudit: str  # "created", "present", or why it was skipped
    owner_admins: tuple[str, ...]  # roles that can grant registry_owner (ADR 0007)
    revision: str | None

    def summary(self) -> str:
        created = ", ".join(self.created_roles) or "none"
        admins = ", ".join(self.owner_admins) or "superusers only"
        return (
            f"migrated to {self.revision} as {self.login}; roles created through "
            f"{self.role_creator}: {created}; {RUNTIME_ROLE} granted to "
            f"{', '.join(self.runtime_logins) or 'no login'}; pgaudit {self.pgaudit}; "
            f"{OWNER_ROLE} can be granted by: {admins}"
        )


def alembic_config() -> Config:
    if not ALEMBIC_INI.exists():
        raise FileNotFoundError(f"{ALEMBIC_INI} is missing: migrations are not in this bundle")
    return Config(str(ALEMBIC_INI))


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _RoleProtocol:
    """The steps of one run on one connection (one transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        row = conn.execute(
            sa.text(
                "SELECT session_user, r.rolsuper, r.rolcreaterole, "
                "current_setting('server_version_num')::int "
                "FROM pg_roles r WHERE r.rolname = session_user"
            )
        ).one()
        self.login: str = row[0]
        self.superuser: bool = row[1]
        self.server_version: int = row[3]
        self.creator = self._role_creator(can_create_roles=row[1] or row[2])

    def _role_creator(self, *, can_create_roles: bool) -> str | None:
        if can_create_roles:
            return None
        usable = self.conn.scalar(
            sa.text(
                "SELECT r.rolcreaterole AND pg_has_role(session_user, r.oid, 'MEMBER') "
                "FROM pg_roles r WHERE r.rolname = :admin"
            ),
            {"admin": CLOUD_SQL_ROLE_ADMIN},
        )
        if not usable:
            raise RoleModelError(
                f"the migration login {self.login} has no CREATEROLE and cannot SET ROLE "
                f"to {CLOUD_SQL_ROLE_ADMIN}: on Cloud SQL give its google_sql_user "
                f'database_roles = ["{CLOUD_SQL_ROLE_ADMIN}"]'
            )
        return CLOUD_SQL_ROLE_ADMIN

    def _as_creator(self) -> None:
        self.conn.exec_driver_sql("RESET ROLE")
        if self.creator is not None:
            self.conn.exec_driver_sql(f"SET LOCAL ROLE {_quote_ident(self.creator)}")

    def _reset(self) -> None:
        self.conn.exec_driver_sql("RESET ROLE")

    def prepare(self) -> tuple[str, ...]:
        """Create the two roles if needed and give this login the owner role for the run."""
        created = []
        self._as_creator()
        for role in (OWNER_ROLE, RUNTIME_ROLE):
            exists = self.conn.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            )
            if not exists:
                self.conn.exec_driver_sql(
                    f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                )
                created.append(role)
        self.conn.exec_driver_sql(f"GRANT {OWNER_ROLE} TO {_quote_ident(self.login)}")
        self._reset()
        return tuple(created)

    def create_pgaudit(self) -> str:
        """CREATE EXTENSION pgaudit where the server loaded it (Cloud SQL's enable_pgaudit)."""
        if self.conn.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pgaudit'")):
            return "present"
        if not self.conn.scalar(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit'")
        ):
            return "skipped (not available on this server)"
        preload = self.conn.scalar(
            sa.text("SELECT current_setting('shared_preload_libraries', true)")
        )
        if preload is None or "pgaudit" not in preload.replace(" ", "").split(","):
            return "skipped (available but not loaded: shared_preload_libraries)"
        self._as_creator()
        self.conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgaudit")
        self._reset()
        return "created"

    def grant_runtime(self, logins: Sequence[str]) -> None:
        self._as_creator()
        for login in logins:
            if not self.conn.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r AND rolcanlogin"),
                {"r": login},
            ):
                raise RoleModelError(
                    f"DB_RUNTIME_LOGINS names {login}, which is not a login on this server "
                    "(create its google_sql_user first)"
                )
            self.conn.exec_driver_sql(f"GRANT {RUNTIME_ROLE} TO {_quote_ident(login)}")
        self._reset()

    def release(self) -> None:
        """Revoke this run's owner grant: between runs no login holds registry_owner."""
        self._as_creator()
        self.conn.exec_driver_sql(f"REVOKE {OWNER_ROLE} FROM {_quote_ident(self.login)}")
        self._reset()

    def _can_become(self, role: str) -> list[str]:
        """Logins (not superusers) that can SET ROLE to ``role`` or use its privileges."""
        mode = "SET" if self.server_version >= 160000 else "MEMBER"
        rows = self.conn.execute(
            sa.text(
                "SELECT r.rolname FROM pg_roles r "
                "WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> :role "
                "AND (pg_has_role(r.oid, :role, :mode) "
                "OR pg_has_role(r.oid, :role, 'USAGE')) ORDER BY 1"
            ),
            {"role": role, "mode": mode},
        )
        return [row[0] for row in rows]

    def owner_admins(self) -> tuple[str, ...]:
        if self.server_version < 160000:
            return ("every CREATEROLE holder (PostgreSQL < 16)",)
        rows = self.conn.execute(
            sa.text(
                "SELECT m.rolname FROM pg_auth_members a "
                "JOIN pg_roles m ON m.oid = a.member "
                "WHERE a.roleid = CAST(:owner AS regrole) AND a.admin_option ORDER BY 1"
            ),
            {"owner": OWNER_ROLE},
        )
        return tuple(row[0] for row in rows)

    def check(self, runtime_logins: Sequence[str]) -> None:
        """Fail the run when the database does not hold the role model and guards."""
        problems: list[str] = []
        for row in self.conn.execute(
            sa.text(
                "SELECT rolname FROM pg_roles WHERE rolname IN (:owner, :runtime) AND "
                "(rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication "
                "OR rolbypassrls)"
            ),
            {"owner": OWNER_ROLE, "runtime": RUNTIME_ROLE},
        ):
            problems.append(f"{row[0]} must be NOLOGIN without any role attribute")
        for login in runtime_logins:
            held = {
                row[0]
                for row in self.conn.execute(
                    sa.text(
                        "SELECT g.rolname FROM pg_auth_members a "
                        "JOIN pg_roles g ON g.oid = a.roleid "
                        "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = :login"
                    ),
                    {"login": login},
                )
            }
            extra = sorted(held - {RUNTIME_ROLE} - PLATFORM_MARKER_ROLES)
            if extra:
                problems.append(
                    f"runtime login {login} also holds {', '.join(extra)}: it must hold only "
                    f"{RUNTIME_ROLE} (on Cloud SQL pin its google_sql_user database_roles = [])"
                )
            if self.conn.scalar(
                sa.text(
                    "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls "
                    "OR rolreplication FROM pg_roles WHERE rolname = :login"
                ),
                {"login": login},
            ):
                problems.append(f"runtime login {login} has role attributes it must not have")
        holders = self._can_become(OWNER_ROLE)
        if holders:
            problems.append(
                f"{', '.join(holders)} can still become {OWNER_ROLE} after the run: "
                "someone granted it outside the migration job (ADR 0007)"
            )
        problems += self._guard_drift()
        if problems:
            raise RoleModelError("; ".join(problems))

    def _guard_drift(self) -> list[str]:
        """What an owner could have switched off since the last run."""
        problems: list[str] = []
        if not self.conn.scalar(
            sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}
        ):
            return problems
        for name, owner in self.conn.execute(
            sa.text(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') ORDER BY 1"
            ),
            {"s": SCHEMA},
        ):
            if owner != OWNER_ROLE:
                problems.append(f"{SCHEMA}.{name} is owned by {owner}, not {OWNER_ROLE}")
        for table, trigger in self.conn.execute(
            sa.text(
                "SELECT c.relname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND NOT t.tgisinternal AND t.tgenabled = 'D' ORDER BY 1, 2"
            ),
            {"s": SCHEMA},
        ):
            problems.append(f"trigger {trigger} on {SCHEMA}.{table} is disabled")
        for (table,) in self.conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relrowsecurity AND NOT c.relforcerowsecurity "
                "ORDER BY 1"
            ),
            {"s": SCHEMA},
        ):
            problems.append(f"row-level security on {SCHEMA}.{table} is not FORCEd")
        for table, privilege in self.conn.execute(
            sa.text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = :runtime AND table_schema = :s "
                "AND table_name = ANY(:tables) "
                "AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') ORDER BY 1, 2"
            ),
            {"runtime": RUNTIME_ROLE, "s": SCHEMA, "tables": list(LOG_TABLES)},
        ):
            problems.append(f"{RUNTIME_ROLE} has {privilege} on {SCHEMA}.{table}")
        return problems


def _current_revision(conn: Connection) -> str | None:
    exists = conn.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return None
    revision = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return None if revision is None else str(revision)


def run_migrations(
    engine: Engine,
    runtime_logins: Sequence[str] = (),
    *,
    action: str = "upgrade",
    revision: str = "head",
) -> MigrationReport:
    """Migrate with ``engine``'s login inside the role protocol; all or nothing."""
    if action not in {"upgrade", "downgrade"}:
        raise ValueError(f"action must be upgrade or downgrade, not {action!r}")
    logins = tuple(runtime_logins)
    config = alembic_config()
    config.attributes["runtime_logins"] = logins
    with engine.connect() as conn:
        roles = _RoleProtocol(conn)
        created = roles.prepare()
        pgaudit = roles.create_pgaudit()
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
        conn.exec_driver_sql("RESET ROLE")
        roles.grant_runtime(logins)
        roles.release()
        roles.check(logins)
        report = MigrationReport(
            login=roles.login,
            role_creator=roles.creator or roles.login,
            created_roles=created,
            runtime_logins=logins,
            pgaudit=pgaudit,
            owner_admins=roles.owner_admins(),
            revision=_current_revision(conn),
        )
        conn.commit()
    _log.info("%s", report.summary())
    return report


def upgrade_database(
    url: str, runtime_logins: Sequence[str] = (), revision: str = "head"
) -> MigrationReport:
    engine = engine_for_url(url, pooled=False)
    try:
        return run_migrations(engine, runtime_logins, revision=revision)
    finally:
        engine.dispose()


def downgrade_database(url: str, revision: str = "base") -> MigrationReport:
    engine = engine_for_url(url, pooled=False)
    try:
        return run_migrations(engine, (), action="downgrade", revision=revision)
    finally:
        engine.dispose()
