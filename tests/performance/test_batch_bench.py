"""A batch of 1,000 end to end beside a raw multi-row INSERT and a raw COPY of 1,000 rows.

The registry's batch is the whole write: parse and validate the request, lock, verify
the head it chains onto, canonicalise, hash, chain and sign every record, insert them
with the name guard, complete the tiles and commit, plus its share of the checkpoint
signed once per 100 records. The raw yardsticks write rows of the same shape into a plain
table (no RLS, no triggers, one index) with a bare pg8000 connection: one multi-row
INSERT and COMMIT, and one COPY FROM STDIN and COMMIT. Rounds alternate the three.

The tenant first gets 3,000 records. In the first test the table is then analysed, as
production's is once autovacuum has seen data; the second runs on a database of its own
that nothing has analysed (every fresh deployment's first minutes), where before
migration 0009 the planner sometimes answered the live-name guard from the (tenant_id,
entity_type, entity_id) index and walked the tenant's whole entity type for every row
(docs/performance.md, "A batch of 1,000").

    make bench PYTEST_ARGS="-k batch_bench"
"""

from __future__ import annotations

import io
import itertools
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from shared.core.commands import parse_batch
from shared.core.principal import Principal
from shared.core.records import VersionRecord
from shared.core.signing import LocalSigner
from shared.db import engine_for_url
from shared.embedded import prepare_database
from shared.service import Registry
from tests.conftest import ALL_SCOPES, Database
from tests.integration.helpers import skill_data
from tests.performance.support import PAIRS, RECORDS, alternate, raw_connect

pytestmark = [pytest.mark.integration, pytest.mark.benchmark]

BATCH = 1000
ROUNDS = 8
SEED_BATCHES = 3
PAIRS["batch of 1000 / INSERT"] = ("batch of 1000", "raw multi-row INSERT of 1000")
PAIRS["batch of 1000 / COPY"] = ("batch of 1000", "raw COPY of 1000")
_names = itertools.count()
_seqs = itertools.count(10**8)
_COLUMNS = ", ".join(["%s"] * 15)


def _row(record: VersionRecord, tenant: str) -> tuple[Any, ...]:
    return (
        tenant, next(_seqs), str(uuid.uuid4()), 1, "Skill", record.status,
        f"name {next(_names)}", record.created_at, record.created_by,
        json.dumps(dict(record.data)), record.canonical, record.leaf_hash, record.chain_hash,
        record.signature, record.key_id,
    )  # fmt: skip


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows in COPY's text format; bytea as hex, the JSON copy of the data as text."""

    def field(value: Any) -> str:
        if isinstance(value, bytes):
            return "\\\\x" + value.hex()
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    return "".join("\t".join(field(v) for v in row) + "\n" for row in rows).encode()


def _bench(
    benchmark: Any,
    registry: Registry,
    database: Database,
    raw_table: str,
    *,
    label: str,
    analyse: bool,
) -> None:
    owner = Principal("bench", f"bench-batch-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    sample = registry.create(
        owner, parse_batch({"entities": [{"entity_type": "Skill", "data": skill_data()}]})
    ).records[0]
    for _ in range(SEED_BATCHES):
        items = [
            {"entity_type": "Skill", "data": skill_data(f"Seed skill {next(_names)}")}
            for _ in range(BATCH)
        ]
        registry.create(owner, parse_batch({"entities": items}))
    conn = raw_connect(database.admin_url)
    cur = conn.cursor()
    tenant = f"raw-batch-{uuid.uuid4().hex[:8]}"
    if analyse:
        cur.execute("ANALYZE registry.entity_versions")
        conn.commit()

    insert = f"INSERT INTO {raw_table} VALUES " + ", ".join([f"({_COLUMNS})"] * BATCH)

    def registry_batch() -> None:
        items = [
            {"entity_type": "Skill", "data": skill_data(f"Batch skill {next(_names)}")}
            for _ in range(BATCH)
        ]
        registry.create(owner, parse_batch({"entities": items}))

    def raw_insert() -> None:
        cur.execute(insert, [v for _ in range(BATCH) for v in _row(sample, tenant)])
        conn.commit()

    def raw_copy() -> None:
        data = _copy_text([_row(sample, tenant) for _ in range(BATCH)])
        cur.execute(f"COPY {raw_table} FROM STDIN", stream=io.BytesIO(data))
        conn.commit()

    try:
        alternate(
            benchmark,
            {
                label: registry_batch,
                "raw multi-row INSERT of 1000": raw_insert,
                "raw COPY of 1000": raw_copy,
            },
            rounds=ROUNDS,
        )
    finally:
        conn.close()
    for name in (label, "raw multi-row INSERT of 1000", "raw COPY of 1000"):
        RECORDS[name] = BATCH
    with registry.repository.tenant_transaction(owner.tenant_id) as tx:
        assert tx.head().seq == 1 + BATCH * (SEED_BATCHES + ROUNDS)


def test_batch_of_1000_beside_insert_and_copy(
    benchmark: Any, registry: Registry, database: Database, raw_table: str
) -> None:
    _bench(benchmark, registry, database, raw_table, label="batch of 1000", analyse=True)


@pytest.fixture
def fresh_registry(database: Database, signer: LocalSigner) -> Iterator[Registry]:
    """A registry on a just-migrated database of its own, never analysed."""
    server_url = sa.make_url(database.admin_url).set(database="postgres")
    server = server_url.render_as_string(hide_password=False)
    name, login = f"registry_bb_{secrets.token_hex(4)}", f"registry_bb_{secrets.token_hex(4)}"
    _, runtime_url = prepare_database(server, name, login)
    engine = engine_for_url(runtime_url)
    yield Registry(engine, signer, {signer.key_id: signer.public_key})
    engine.dispose()
    admin = engine_for_url(server, pooled=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}"')
    admin.dispose()


def test_batch_of_1000_on_a_never_analysed_table(
    benchmark: Any, fresh_registry: Registry, database: Database, raw_table: str
) -> None:
    label = "batch of 1000, never analysed"
    PAIRS["batch of 1000, never analysed / INSERT"] = (label, "raw multi-row INSERT of 1000")
    _bench(benchmark, fresh_registry, database, raw_table, label=label, analyse=False)
