"""The migration job's entry point, and `make migrate`.

With MIGRATION_DATABASE_URL, or the Cloud SQL variables (INSTANCE_CONNECTION_NAME, DB_USER,
DB_NAME, DB_IAM_AUTH: what the Cloud Run job sets), this runs `alembic upgrade head`
inside the role protocol of docs/adr/0007-cloud-sql-role-model.md
(``shared.migration.run_migrations``), granting the runtime role to DB_RUNTIME_LOGINS. With
nothing set it prepares the embedded database that `make run` uses.

Example (the container's ENTRYPOINT)::

    python -m tools.migrate

Exit status 0 on success, 1 with one line on stderr when the role model or a guard does
not hold (nothing is committed then), 2 on a configuration error.
"""

from __future__ import annotations

import logging
import os
import sys

from shared.core.errors import ConfigurationError
from shared.db import build_migration_engine
from shared.embedded import ensure_local_database
from shared.migration import RoleModelError, head_revision, run_migrations
from shared.settings import Settings


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        print(f"migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    if settings.migration_database_url or settings.uses_cloud_sql:
        engine = build_migration_engine(settings)
        try:
            report = run_migrations(engine, settings.db_runtime_logins)
        except RoleModelError as exc:
            print(f"migrate: refused, nothing committed: {exc}", file=sys.stderr)
            return 1
        finally:
            engine.dispose()
        print(f"migrate: {report.summary()}")
    else:
        ensure_local_database(settings).close()
        print(f"migrate: database migrated to {head_revision()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
