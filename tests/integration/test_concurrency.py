"""One history per tenant under concurrent writers, and proof that the guards matter.

The main test runs 16 threads, each creating 100 entities and then superseding each of
them once: 3,200 appends to one tenant. The fork tests take the advisory lock away and
show what stops (the UNIQUE backstop) or finds (the audit) the fork instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.commands import create_entity, parse_supersede
from shared.core.errors import ConflictError
from shared.core.principal import Principal
from shared.db import engine_for_url
from shared.embedded import prepare_database
from shared.repository import Repository
from shared.repository_session import Pending, Session
from shared.repository_sql import SET_TENANT
from shared.service import Registry
from shared.settings import Settings
from tests.conftest import Database
from tests.integration.helpers import skill_data

pytestmark = [pytest.mark.integration, pytest.mark.slow]

THREADS = 16
CREATES_PER_THREAD = 100


@pytest.fixture(scope="module")
def wide_engine(database: Database) -> Iterator[Engine]:
    """A pool wide enough for every thread, so the test measures the lock, not the pool."""
    engine = engine_for_url(
        database.runtime_url, Settings(db_pool_size=THREADS, db_pool_timeout=60)
    )
    yield engine
    engine.dispose()


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    with ThreadPoolExecutor(max_workers=count) as pool:
        for future in [pool.submit(work, n) for n in range(count)]:
            future.result()


def test_concurrent_writers_never_fork_the_chain(
    wide_engine: Engine, registry: Registry, admin: Principal
) -> None:
    concurrent = Registry(wide_engine, registry.signer, registry.trusted_keys)
    start = threading.Barrier(THREADS)

    def writer(_: int) -> None:
        start.wait()
        ids = [
            concurrent.create(admin, create_entity("Skill", skill_data())).records[0].entity_id
            for _ in range(CREATES_PER_THREAD)
        ]
        for entity_id in ids:
            concurrent.supersede(
                admin,
                parse_supersede(
                    entity_id, {"expected_version": 1, "data": skill_data(), "reason": "rename"}
                ),
            )

    _run_threads(THREADS, writer)
    expected = THREADS * CREATES_PER_THREAD * 2
    with wide_engine.begin() as conn:
        conn.execute(SET_TENANT, {"tenant": admin.tenant_id})
        seqs = [
            row[0]
            for row in conn.execute(
                sa.text("SELECT seq FROM registry.entity_versions ORDER BY seq")
            )
        ]
    assert seqs == list(range(1, expected + 1)), "seq must be contiguous with no gaps or repeats"
    report = concurrent.audit(admin)
    assert report.valid, report.to_dict()
    assert report.records_checked == expected == 3200


# The head as begin_append returns it, without the lock.
_UNLOCKED_HEAD = sa.text(
    "SELECT max(v.seq), (SELECT c.chain_hash FROM registry.entity_versions AS c "
    "WHERE c.tenant_id = :tenant ORDER BY c.seq DESC LIMIT 1), 0::bigint "
    "FROM registry.entity_versions AS v WHERE v.tenant_id = :tenant"
)


class UnlockedRepository(Repository):
    """The append path with the advisory lock removed, and a pause that makes races certain."""

    def _begin_append(self, conn: Session, tenant_id: str) -> Pending:
        conn.execute(SET_TENANT, {"tenant": tenant_id})
        head = conn.defer(_UNLOCKED_HEAD, {"tenant": tenant_id})
        conn.flush()
        time.sleep(0.05)  # every writer reads the same head before any of them commits
        return head


def _unlocked_registry(engine: Engine, registry: Registry) -> Registry:
    unlocked = Registry(engine, registry.signer, registry.trusted_keys)
    unlocked.repository = UnlockedRepository(engine)
    unlocked.ledger._repository = unlocked.repository
    unlocked.evidence._repository = unlocked.repository
    return unlocked


def test_without_the_lock_the_unique_backstop_refuses_the_fork(
    wide_engine: Engine, registry: Registry, admin: Principal
) -> None:
    unlocked = _unlocked_registry(wide_engine, registry)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(_: int) -> None:
        start.wait()
        try:
            unlocked.create(admin, create_entity("Skill", skill_data()))
            outcomes.append("written")
        except ConflictError:
            outcomes.append("conflict")

    _run_threads(8, writer)
    # Writers that read the same head collide on (tenant, seq); a straggler that read a
    # newer head may still succeed. Either way no fork is stored.
    assert outcomes.count("conflict") >= 1, "the unlocked writers did not race"
    assert outcomes.count("written") + outcomes.count("conflict") == 8
    report = registry.audit(admin)
    assert report.valid and report.records_checked == outcomes.count("written")


@pytest.fixture
def database_without_backstop(database: Database) -> Iterator[tuple[Engine, Engine]]:
    """A scratch database whose version log has lost its UNIQUE (tenant, seq) guard."""
    suffix = secrets.token_hex(4)
    name, login = f"registry_fork_{suffix}", f"registry_fork_app_{suffix}"
    migration_url, runtime_url = prepare_database(database.admin_url, name, login)
    admin = sa.create_engine(migration_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(
            sa.text("ALTER TABLE registry.entity_versions DROP CONSTRAINT pk_entity_versions")
        )
    runtime = engine_for_url(runtime_url, Settings(db_pool_size=8, db_pool_timeout=30))
    yield runtime, admin
    runtime.dispose()
    admin.dispose()
    cleanup = sa.create_engine(database.admin_url, poolclass=sa.pool.NullPool)
    with cleanup.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'DROP ROLE "{login}"')
    cleanup.dispose()


def test_without_lock_and_backstop_the_audit_finds_the_fork(
    database_without_backstop: tuple[Engine, Engine], registry: Registry, admin: Principal
) -> None:
    runtime, admin_engine = database_without_backstop
    unlocked = _unlocked_registry(runtime, registry)
    unlocked.create(admin, create_entity("Skill", skill_data()))  # seq 1, written alone
    start = threading.Barrier(4)

    def writer(_: int) -> None:
        start.wait()
        unlocked.create(admin, create_entity("Skill", skill_data()))

    _run_threads(4, writer)  # writers that read the same head take the same seq: a fork
    with admin_engine.begin() as conn:
        forked_seq = conn.scalar(
            sa.text(
                "SELECT min(seq) FROM (SELECT seq FROM registry.entity_versions "
                "WHERE tenant_id = :t GROUP BY seq HAVING count(*) > 1) AS forks"
            ),
            {"t": admin.tenant_id},
        )
    assert forked_seq is not None, "the unlocked writers did not race; the test proves nothing"
    report = unlocked.audit(admin).to_dict()
    assert report["valid"] is False
    # The first copy of the forked seq verifies; the second stands where seq+1 should be.
    assert (report["first_bad_seq"], report["error"]["check"]) == (forked_seq + 1, "seq")
