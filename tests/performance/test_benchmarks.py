"""The benchmark suite (`make bench`): registry operations against raw PostgreSQL.

Pairs measured in the same run: create vs a raw INSERT+COMMIT of the same row; get by id
vs a raw SELECT by primary key; a batch of 100 vs a raw multi-row INSERT of 100; a
filtered list vs a raw filtered SELECT; 10 concurrent gets vs 10 concurrent raw SELECTs.
Pure-core timings (seal, validate, verify, sign) stand alone, for comparison with the
figures of the system we replace.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core import entities
from shared.core.commands import create_entity, parse_batch
from shared.core.hashing import GENESIS_CHAIN_HASH
from shared.core.principal import Principal
from shared.core.queries import get_entity, list_entities
from shared.core.records import RecordContent, VersionRecord, seal_record
from shared.core.signing import LocalSigner
from shared.core.verification import verify_record
from shared.service import Registry
from tests.conftest import ALL_SCOPES, Database
from tests.integration.helpers import skill_data
from tests.performance.support import PAIRS, raw_connect, record_mean

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

PAIRS.update(
    {
        "single create": ("create", "raw_insert_commit"),
        "get by id": ("get_by_id", "raw_select_pk"),
        "batch of 100": ("create_batch_100", "raw_insert_100"),
        "filtered list (50 rows)": ("list_filtered", "raw_select_filtered"),
        "10 concurrent gets": ("concurrent_gets_10", "raw_concurrent_selects_10"),
    }
)
_counter = itertools.count()
_COLUMNS = 15
_INSERT = "INSERT INTO public.bench_raw VALUES ({})"
_SELECT_PK = "SELECT * FROM public.bench_raw WHERE tenant_id = %s AND seq = %s"
_SELECT_FILTERED = (
    "SELECT * FROM public.bench_raw WHERE tenant_id = %s AND entity_type = %s "
    "ORDER BY entity_id LIMIT 50"
)


@pytest.fixture(scope="module")
def principal() -> Principal:
    return Principal("bench", f"bench-{uuid.uuid4().hex[:8]}", ALL_SCOPES)


@pytest.fixture(scope="module")
def sample(registry: Registry, principal: Principal) -> VersionRecord:
    """A stored record, and 60 more so list queries return a full page."""
    registry.create(
        principal,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(60)]}
        ),
    )
    return registry.create(principal, create_entity("Skill", skill_data())).records[0]


@pytest.fixture(scope="module")
def raw(database: Database, raw_table: str, sample: VersionRecord) -> Iterator[tuple[Any, str]]:
    """A raw connection and a tenant holding rows shaped like ``sample``."""
    conn = raw_connect(database.admin_url)
    tenant = f"raw-{uuid.uuid4().hex[:8]}"
    cur = conn.cursor()
    for seq in range(1, 62):
        cur.execute(_INSERT.format(", ".join(["%s"] * _COLUMNS)), _raw_row(sample, tenant, seq))
    # Plan with statistics, as production does once autovacuum has analysed the tables.
    cur.execute("ANALYZE public.bench_raw")
    cur.execute("ANALYZE registry.entity_versions")
    conn.commit()
    yield conn, tenant
    conn.close()


@pytest.fixture(scope="module", autouse=True)
def _seeded_and_analysed(raw: tuple[Any, str]) -> None:
    """Every benchmark runs after the seed rows exist and the tables are analysed."""


def _raw_row(record: VersionRecord, tenant: str, seq: int) -> tuple[Any, ...]:
    return (
        tenant, seq, str(uuid.uuid4()), 1, "Skill", record.status, f"name {seq}",
        record.created_at, record.created_by, json.dumps(dict(record.data)),
        record.canonical, record.leaf_hash, record.chain_hash, record.signature, record.key_id,
    )  # fmt: skip


# --- writes ------------------------------------------------------------------------


def test_create(benchmark: Any, registry: Registry, principal: Principal) -> None:
    benchmark(
        lambda: registry.create(
            principal, create_entity("Skill", skill_data(f"bench {next(_counter)}"))
        )
    )
    record_mean("create", benchmark)


def test_raw_insert_commit(benchmark: Any, raw: tuple[Any, str], sample: VersionRecord) -> None:
    conn, tenant = raw
    cur = conn.cursor()
    statement = _INSERT.format(", ".join(["%s"] * _COLUMNS))

    def insert() -> None:
        cur.execute(statement, _raw_row(sample, tenant, 1000 + next(_counter)))
        conn.commit()

    benchmark(insert)
    record_mean("raw_insert_commit", benchmark)


def test_create_batch_100(benchmark: Any, registry: Registry, principal: Principal) -> None:
    def batch() -> None:
        items = [
            {"entity_type": "Skill", "data": skill_data(f"bench {next(_counter)}")}
            for _ in range(100)
        ]
        registry.create(principal, parse_batch({"entities": items}))

    benchmark(batch)
    record_mean("create_batch_100", benchmark)


def test_raw_insert_100(benchmark: Any, raw: tuple[Any, str], sample: VersionRecord) -> None:
    conn, tenant = raw
    cur = conn.cursor()
    rows = ", ".join(["(" + ", ".join(["%s"] * _COLUMNS) + ")"] * 100)
    statement = f"INSERT INTO public.bench_raw VALUES {rows}"

    def insert() -> None:
        values = [v for _ in range(100) for v in _raw_row(sample, tenant, 10**6 + next(_counter))]
        cur.execute(statement, values)
        conn.commit()

    benchmark(insert)
    record_mean("raw_insert_100", benchmark)


# --- reads -------------------------------------------------------------------------


def test_get_by_id(
    benchmark: Any, registry: Registry, principal: Principal, sample: VersionRecord
) -> None:
    benchmark(lambda: registry.get(principal, get_entity(sample.entity_id)))
    record_mean("get_by_id", benchmark)


def test_raw_select_pk(benchmark: Any, raw: tuple[Any, str]) -> None:
    conn, tenant = raw
    cur = conn.cursor()

    def select() -> None:
        cur.execute(_SELECT_PK, (tenant, 7))
        cur.fetchall()
        conn.commit()

    benchmark(select)
    record_mean("raw_select_pk", benchmark)


def test_list_filtered(
    benchmark: Any, registry: Registry, principal: Principal, sample: VersionRecord
) -> None:
    page = benchmark(
        lambda: registry.list_entities(principal, list_entities(entity_type="Skill", limit=50))
    )
    assert len(page.items) == 50
    record_mean("list_filtered", benchmark)


def test_raw_select_filtered(benchmark: Any, raw: tuple[Any, str]) -> None:
    conn, tenant = raw
    cur = conn.cursor()

    def select() -> None:
        cur.execute(_SELECT_FILTERED, (tenant, "Skill"))
        assert len(cur.fetchall()) == 50
        conn.commit()

    benchmark(select)
    record_mean("raw_select_filtered", benchmark)


def test_concurrent_gets_10(
    benchmark: Any, registry: Registry, principal: Principal, sample: VersionRecord
) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:

        def ten_gets() -> None:
            for future in [
                pool.submit(registry.get, principal, get_entity(sample.entity_id))
                for _ in range(10)
            ]:
                future.result()

        benchmark(ten_gets)
    record_mean("concurrent_gets_10", benchmark)


def test_raw_concurrent_selects_10(
    benchmark: Any, database: Database, raw: tuple[Any, str]
) -> None:
    _, tenant = raw
    connections = [raw_connect(database.admin_url) for _ in range(10)]

    def select(conn: Any) -> None:
        cur = conn.cursor()
        cur.execute(_SELECT_PK, (tenant, 7))
        cur.fetchall()
        conn.commit()

    with ThreadPoolExecutor(max_workers=10) as pool:
        benchmark(lambda: list(pool.map(select, connections)))
    for conn in connections:
        conn.close()
    record_mean("raw_concurrent_selects_10", benchmark)


# --- evidence ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def thousand_record_log(registry: Registry) -> tuple[Principal, str]:
    """A tenant whose log holds exactly 1,000 records.

    Proofs cost O(log size) to check but O(size) to build, so the figure names the size.
    """
    owner = Principal("bench", f"bench-proof-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(1000)]
    records = registry.create(owner, parse_batch({"entities": items})).records
    registry.sign_checkpoint(owner)
    return owner, records[500].entity_id


def test_verify_record_endpoint(
    benchmark: Any, registry: Registry, thousand_record_log: tuple[Principal, str]
) -> None:
    owner, entity_id = thousand_record_log
    report = benchmark(lambda: registry.verify(owner, get_entity(entity_id)))
    assert report.valid
    record_mean("verify with proof (1k log)", benchmark)


def test_audit_thousand_records(
    benchmark: Any, registry: Registry, thousand_record_log: tuple[Principal, str]
) -> None:
    owner, _ = thousand_record_log
    report = benchmark.pedantic(lambda: registry.audit(owner), rounds=3, iterations=1)
    assert report.valid
    record_mean("audit of a 1k-record log", benchmark)


# --- pure core ---------------------------------------------------------------------


def test_seal_record(benchmark: Any, signer: LocalSigner, sample: VersionRecord) -> None:
    """Canonicalise + leaf hash + chain hash + Ed25519 signature of one record."""
    content = RecordContent(
        tenant_id="t",
        seq=1,
        entity_id=sample.entity_id,
        version=1,
        entity_type="Skill",
        status="pending_certification",
        data=sample.data,
        created_at=sample.created_at,
        created_by="bench",
        reason=None,
        supersedes=None,
    )
    benchmark(lambda: seal_record(content, previous_chain_hash=GENESIS_CHAIN_HASH, signer=signer))
    record_mean("seal_record (hash chain + sign)", benchmark)


def test_entity_validation(benchmark: Any) -> None:
    data = skill_data()
    benchmark(lambda: entities.validate_data("Skill", data))
    record_mean("entity validation", benchmark)


def test_record_verification(benchmark: Any, registry: Registry, sample: VersionRecord) -> None:
    """Every offline check of one record: content, leaf, chain, key and signature."""
    with registry.repository.tenant_transaction(sample.tenant_id) as tx:
        previous = tx.chain_hash_at(sample.seq - 1)
    assert previous is not None
    benchmark(
        lambda: verify_record(
            sample, previous_chain_hash=previous, trusted_keys=registry.trusted_keys
        )
    )
    record_mean("verify_record (all checks)", benchmark)


def test_rsa_pss_sign(benchmark: Any) -> None:
    signer = LocalSigner.from_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=3072)
    )
    benchmark(lambda: signer.sign(b"x" * 300))
    record_mean("RSA-PSS-3072 sign", benchmark)
