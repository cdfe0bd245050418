"""Database engines: DATABASE_URL, or Cloud SQL through the Python Connector.

One engine per process, with a small pool and a fail-fast pool timeout. There is no
ping when a connection leaves the pool (it would cost every request a round trip): the
repository's sessions retry a transaction once on a fresh connection when its first
write finds the pooled one dead (shared/repository_session.py). The Cloud SQL connector
is built on first use (lazy refresh), shared by every engine of the process and closed
at exit.

Every wait on the network is bounded: connecting by ``DB_CONNECT_TIMEOUT_S``, and each
read from the server by a socket timeout of ``DB_STATEMENT_TIMEOUT_MS`` plus the
connect timeout (the server cancels a slow statement first; the socket timeout is for a
server that stopped answering at all, such as a SIGSTOPped or partitioned instance).
Transport failures that pg8000 lets escape untranslated (``ConnectionResetError``,
``struct.error`` on a short read, socket timeouts) mark the connection as dead, so the
pool drops it.

Example::

    engine = build_engine(Settings.from_env(os.environ))
    with engine.begin() as conn:
        ...
"""

from __future__ import annotations

import atexit
import socket
import struct
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from shared.core.errors import ConfigurationError
from shared.settings import Settings

_connector_lock = threading.Lock()
_connector: Any = None

# Errors that mean the connection itself is gone or stuck, whatever pg8000 wrapped them
# in (it raises some of these raw). A connection that raised one is never reused.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, struct.error, EOFError)


def is_transport_error(exc: BaseException) -> bool:
    """True for a dead or stuck connection, raw or as pg8000's InterfaceError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TRANSPORT_ERRORS):
            return True
        if type(current).__name__ == "InterfaceError" and type(current).__module__.startswith(
            "pg8000"
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def read_timeout_seconds(settings: Settings) -> float:
    """How long one read from the server may block: the statement timeout, plus the
    connect timeout as the margin for the server's own cancellation to arrive first."""
    return settings.db_statement_timeout_ms / 1000 + settings.db_connect_timeout_s


def _bound_reads(dbapi_connection: Any, seconds: float | None) -> None:
    # pg8000 uses one timeout for connecting and for every read afterwards; connecting
    # gets DB_CONNECT_TIMEOUT_S, reads get longer than any statement may legitimately run.
    raw = getattr(dbapi_connection, "_usock", None)
    if isinstance(raw, socket.socket):
        raw.settimeout(seconds)


def _install_fault_handling(engine: Engine, settings: Settings, *, bound_reads: bool) -> None:
    read_timeout = read_timeout_seconds(settings) if bound_reads else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _bound_reads(dbapi_connection, read_timeout)

    @event.listens_for(engine, "handle_error")
    def _transport_is_disconnect(context: Any) -> None:
        if is_transport_error(context.original_exception):
            context.is_disconnect = True


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
                timeout=settings.db_connect_timeout_s,
            )
            atexit.register(_connector.close)
        return _connector


def _engine_options(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        # No ping on checkout: a dead pooled connection is retried once by the repository
        # session (before anything was written) instead of costing every request a trip.
        "pool_pre_ping": False,
        # Appends rely on READ COMMITTED: each statement after the advisory lock sees
        # what the previous lock holder committed.
        "isolation_level": "READ COMMITTED",
    }


def _cloud_sql_engine(settings: Settings, user: str | None, *, bound_reads: bool) -> Engine:
    instance = settings.instance_connection_name
    db_user = user or settings.db_user
    if not (instance and db_user and settings.db_name):
        raise ConfigurationError("Cloud SQL needs INSTANCE_CONNECTION_NAME, DB_USER and DB_NAME")
    db_name = settings.db_name

    def connect() -> Any:
        return _cloud_sql_connector(settings).connect(
            instance,
            "pg8000",
            user=db_user,
            db=db_name,
            enable_iam_auth=settings.db_iam_auth,
            timeout=settings.db_connect_timeout_s,
        )

    engine = sa.create_engine("postgresql+pg8000://", creator=connect, **_engine_options(settings))
    _install_fault_handling(engine, settings, bound_reads=bound_reads)
    return engine


def build_engine(settings: Settings) -> Engine:
    """The runtime engine: DATABASE_URL, or Cloud SQL when INSTANCE_CONNECTION_NAME is set."""
    if settings.uses_cloud_sql:
        return _cloud_sql_engine(settings, None, bound_reads=True)
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
        # Migrations may run long statements (an index over a big table).
        return _cloud_sql_engine(settings, None, bound_reads=False)
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
    settings = settings or Settings()
    connect_args = {"timeout": settings.db_connect_timeout_s}
    if not pooled:
        # Migrations and admin tools: bounded connect, but a CREATE INDEX on a big table
        # may take minutes, so reads wait as long as the server works.
        engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool, connect_args=connect_args)
        event.listen(engine, "connect", lambda conn, _record: _bound_reads(conn, None))
        return engine
    engine = sa.create_engine(parsed, connect_args=connect_args, **_engine_options(settings))
    _install_fault_handling(engine, settings, bound_reads=True)
    return engine
