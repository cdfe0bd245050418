"""Database engines: DATABASE_URL, or Cloud SQL through the Python Connector.

One engine per process, with a small pool, pre-ping and a fail-fast pool timeout. The
Cloud SQL connector is built on first use (lazy refresh), shared by every engine of the
process and closed at exit.

Example::

    engine = build_engine(Settings.from_env(os.environ))
    with engine.begin() as conn:
        ...
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.errors import ConfigurationError
from shared.settings import Settings

_connector_lock = threading.Lock()
_connector: Any = None


def _cloud_sql_connector(settings: Settings) -> Any:
    """The process's one Connector, created on first use and closed at interpreter exit."""
    global _connector
    with _connector_lock:
        if _connector is None:
            from google.cloud.sql.connector import Connector, IPTypes

            ip_types = {"private": IPTypes.PRIVATE, "public": IPTypes.PUBLIC, "psc": IPTypes.PSC}
            _connector = Connector(
                ip_type=ip_types[settings.db_ip_type],
                enable_iam_auth=settings.db_iam_auth,
                refresh_strategy="lazy",
            )
            atexit.register(_connector.close)
        return _connector


def _engine_options(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_pre_ping": True,
        # Appends rely on READ COMMITTED: each statement after the advisory lock sees
        # what the previous lock holder committed.
        "isolation_level": "READ COMMITTED",
    }


def _cloud_sql_engine(settings: Settings, user: str | None) -> Engine:
    instance = settings.instance_connection_name
    db_user = user or settings.db_user
    if not (instance and db_user and settings.db_name):
        raise ConfigurationError("Cloud SQL needs INSTANCE_CONNECTION_NAME, DB_USER and DB_NAME")
    db_name = settings.db_name

    def connect() -> Any:
        return _cloud_sql_connector(settings).connect(
            instance, "pg8000", user=db_user, db=db_name, enable_iam_auth=settings.db_iam_auth
        )

    return sa.create_engine("postgresql+pg8000://", creator=connect, **_engine_options(settings))


def build_engine(settings: Settings) -> Engine:
    """The runtime engine: DATABASE_URL, or Cloud SQL when INSTANCE_CONNECTION_NAME is set."""
    if settings.uses_cloud_sql:
        return _cloud_sql_engine(settings, None)
    if settings.database_url:
        return engine_for_url(settings.database_url, settings)
    raise ConfigurationError(
        "no database configured: set DATABASE_URL or INSTANCE_CONNECTION_NAME "
        "(make run starts an embedded PostgreSQL for you)"
    )


def build_migration_engine(settings: Settings) -> Engine:
    """The engine migrations run with: MIGRATION_DATABASE_URL, or Cloud SQL as DB_USER."""
    if settings.migration_database_url:
        return engine_for_url(settings.migration_database_url, settings, pooled=False)
    if settings.uses_cloud_sql:
        return _cloud_sql_engine(settings, None)
    raise ConfigurationError(
        "no migration database configured: set MIGRATION_DATABASE_URL or INSTANCE_CONNECTION_NAME"
    )


def engine_for_url(url: str, settings: Settings | None = None, *, pooled: bool = True) -> Engine:
    """An engine for an explicit SQLAlchemy URL (pg8000 driver enforced)."""
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+pg8000")
    if parsed.drivername != "postgresql+pg8000":
        raise ConfigurationError(
            f"database URLs must use postgresql+pg8000, not {parsed.drivername}"
        )
    if not pooled:
        return sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    return sa.create_engine(parsed, **_engine_options(settings or Settings()))
