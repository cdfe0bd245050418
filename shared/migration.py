"""Apply the alembic migrations programmatically (dev server, tests, tools/migrate.py).

Example::

    upgrade_database("postgresql+pg8000://admin@/registry?unix_sock=...", ["registry_app"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.db import engine_for_url

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    if not ALEMBIC_INI.exists():
        raise FileNotFoundError(f"{ALEMBIC_INI} is missing: migrations are not in this bundle")
    return Config(str(ALEMBIC_INI))


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _run(url: str, runtime_logins: Sequence[str], action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["runtime_logins"] = tuple(runtime_logins)
    engine = engine_for_url(url, pooled=False)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def upgrade_database(url: str, runtime_logins: Sequence[str] = (), revision: str = "head") -> None:
    _run(url, runtime_logins, "upgrade", revision)


def downgrade_database(url: str, revision: str = "base") -> None:
    _run(url, (), "downgrade", revision)
