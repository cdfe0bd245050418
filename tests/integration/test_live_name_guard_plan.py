"""The live-name guard reads O(1) index entries per row on a table never analysed.

On a fresh database the table has no statistics, and before migration 0009 the planner
chose between the live-name index and (tenant_id, entity_type, entity_id) by a cost tie
that followed the indexes' sizes: the wrong one walked every row of the tenant's type for
each inserted row (4 million index entries for a batch of 1,000 on a 4,000-row tenant).
Rows read are counted with the transaction's own statistics counters, not timed, so
a noisy machine cannot make this pass or fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shared.db import engine_for_url
from shared.embedded import prepare_database
from shared.repository_sql import NAME_CONFLICTS
from tests.conftest import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCHES = 6
BATCH = 1000
KEY_ID = "guard-plan-key"
_APPEND = sa.text(
    "SELECT registry.append_versions(:t, now(), 'guard-plan', :k, CAST(:rows AS jsonb))"
)
_INDEX_ENTRIES_READ = sa.text(
    "SELECT c.relname, pg_stat_get_xact_tuples_returned(c.oid) FROM pg_index AS i "
    "JOIN pg_class AS c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = 'registry.entity_versions'::regclass"
)


@pytest.fixture
def fresh_urls(database: Database) -> Iterator[tuple[str, str]]:
    """A just-migrated database of its own, whose tables nothing has analysed."""
    server = sa.make_url(database.admin_url).set(database="postgres")
    server_url = server.render_as_string(hide_password=False)
    name, login = f"registry_guard_{secrets.token_hex(4)}", f"registry_guard_{secrets.token_hex(4)}"
    yield prepare_database(server_url, name, login)
    admin = engine_for_url(server_url, pooled=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}"')
    admin.dispose()


def _row(seq: int, name: str, entity_id: str | None = None) -> dict[str, Any]:
    digest = hashlib.sha256(str(seq).encode()).hexdigest()
    canonical = json.dumps({"data": {"name": name}}).encode()
    return {
        "seq": seq, "entity_id": entity_id or str(uuid.uuid4()), "version": 1,
        "supersedes": None, "entity_type": "Skill", "status": "draft", "name_key": name,
        "reason": None, "canonical": base64.b64encode(canonical).decode(),
        "leaf_hash": digest, "chain_hash": digest, "signature": base64.b64encode(b"s").decode(),
    }  # fmt: skip


def _append(
    conn: Connection, tenant: str, rows: list[dict[str, Any]]
) -> tuple[int, dict[str, int]]:
    """Append as the runtime login; return rows inserted and index entries read per index."""
    conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant})
    inserted = conn.execute(_APPEND, {"t": tenant, "k": KEY_ID, "rows": json.dumps(rows)}).scalar()
    read = {name: count for name, count in conn.execute(_INDEX_ENTRIES_READ)}
    return int(inserted or 0), read


def test_guard_reads_constant_index_entries_per_row_without_statistics(
    fresh_urls: tuple[str, str],
) -> None:
    _, runtime_url = fresh_urls
    engine = sa.create_engine(runtime_url, poolclass=sa.pool.NullPool)
    tenant = f"guard-{secrets.token_hex(4)}"
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO registry.signing_keys VALUES (:k, 'Ed25519', 'pem', now())"),
                {"k": KEY_ID},
            )
            never_analysed = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stats WHERE schemaname = 'registry' "
                    "AND tablename = 'entity_versions'"
                )
            ).scalar()
        assert never_analysed == 0
        reads = []
        for batch in range(BATCHES):
            rows = [_row(batch * BATCH + i + 1, f"skill {batch}-{i}") for i in range(BATCH)]
            with engine.begin() as conn:
                inserted, read = _append(conn, tenant, rows)
            assert inserted == BATCH
            reads.append(read)
        # New names find nothing: the guard's lookups return (almost) no index entries,
        # however many rows of the type the tenant already has.
        assert all(sum(read.values()) <= BATCH for read in reads), reads
        # The guard still refuses a live name held by another entity.
        with engine.begin() as conn:
            taken = _row(BATCHES * BATCH + 1, "skill 0-7")
            inserted, read = _append(conn, tenant, [taken])
        assert inserted == 0
        assert read.get("ix_entity_versions_live_name", 0) >= 1, read
        # The service's lookup of which name was taken goes through the same index.
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant})
            plan = conn.execute(
                sa.text("EXPLAIN " + NAME_CONFLICTS.text),
                {"tenant": tenant, "entity_type": "Skill", "keys": ["skill 0-7"], "exclude": None},
            ).scalars()
            scans = [line for line in plan if "Scan" in line and " v " in line]
        assert len(scans) == 1, scans
        assert "ix_entity_versions_live_name" in scans[0], scans
    finally:
        engine.dispose()
