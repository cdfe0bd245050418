"""`make migrate`: apply the migrations to the configured database, or the embedded one.

With MIGRATION_DATABASE_URL (or the Cloud SQL variables) set this is `alembic upgrade
head` with DB_RUNTIME_LOGINS granted the runtime role; with nothing set it prepares the
embedded database that `make run` uses.
"""

from __future__ import annotations

import os
import sys

from alembic import command

from shared.embedded import ensure_local_database
from shared.migration import alembic_config, head_revision
from shared.settings import Settings


def main() -> int:
    settings = Settings.from_env(os.environ)
    if settings.migration_database_url or settings.uses_cloud_sql:
        config = alembic_config()
        config.attributes["runtime_logins"] = settings.db_runtime_logins
        command.upgrade(config, "head")
    else:
        ensure_local_database(settings).close()
    print(f"database migrated to {head_revision()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
