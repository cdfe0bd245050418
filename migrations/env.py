"""Alembic environment: one engine from Settings, one transaction per run."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from shared.db import build_migration_engine
from shared.schema import SCHEMA, metadata
from shared.settings import Settings

config = context.config


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our schema is ours to compare; alembic_version and other schemas are not.
    if type_ == "schema":
        return name == SCHEMA
    return True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_schemas=True,
        include_name=_include_name,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = Settings.from_env(os.environ)
    config.attributes.setdefault("runtime_logins", settings.db_runtime_logins)
    engine = build_migration_engine(settings)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")
run_migrations_online()
