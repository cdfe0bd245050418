"""The full audit beside a raw keyset read of the same rows, in alternating rounds.

The log has ``AUDIT_BENCH_ROWS`` records (32,768 by default: four audit chunks, so the
read-ahead and the signature workers take part), filled through the batch path. The raw
yardstick reads every column of the same rows with a bare pg8000 cursor, 8,192 rows a
page by seq, and checks nothing. Each round runs the raw read, the roots audit and (every
round but costlier) the signatures audit, rotating their order.

    make bench PYTEST_ARGS="-k audit_bench"
    AUDIT_BENCH_ROWS=100000 make bench PYTEST_ARGS="-k audit_bench"
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from shared.core.audit import AuditMode
from shared.core.commands import parse_batch
from shared.core.principal import Principal
from shared.service import Registry
from tests.conftest import ALL_SCOPES, Database
from tests.integration.helpers import skill_data
from tests.performance.support import PAIRS, RECORDS, alternate, raw_connect

pytestmark = [pytest.mark.integration, pytest.mark.benchmark]

ROWS = int(os.environ.get("AUDIT_BENCH_ROWS", "32768"))
PAGE = 8192

PAIRS["audit roots / raw read"] = ("audit, roots mode", "raw keyset read")
PAIRS["audit signatures / raw read"] = ("audit, signatures mode", "raw keyset read")


@pytest.fixture(scope="module")
def audited_log(registry: Registry) -> Principal:
    owner = Principal("bench", f"bench-audit-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    for start in range(0, ROWS, 1000):
        items = [
            {"entity_type": "Skill", "data": skill_data(f"Skill {start + i}")}
            for i in range(min(1000, ROWS - start))
        ]
        registry.create(owner, parse_batch({"entities": items}))
    registry.sign_checkpoint(owner)
    return owner


def _raw_keyset_read(database: Database, tenant: str) -> int:
    conn = raw_connect(database.admin_url)
    try:
        cur = conn.cursor()
        after, count = 0, 0
        while True:
            cur.execute(
                "SELECT * FROM registry.entity_versions WHERE tenant_id = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (tenant, after, PAGE),
            )
            rows = cur.fetchall()
            count += len(rows)
            if len(rows) < PAGE:
                return count
            after = rows[-1][1]
    finally:
        conn.close()


def test_audit_beside_a_raw_keyset_read(
    benchmark: Any, registry: Registry, database: Database, audited_log: Principal
) -> None:
    owner = audited_log
    reports: dict[str, Any] = {}

    def audit(mode: AuditMode) -> None:
        reports[mode] = registry.audit(owner, mode)

    assert _raw_keyset_read(database, owner.tenant_id) == ROWS
    alternate(
        benchmark,
        {
            "raw keyset read": lambda: _raw_keyset_read(database, owner.tenant_id),
            "audit, roots mode": lambda: audit(AuditMode.ROOTS),
            "audit, signatures mode": lambda: audit(AuditMode.SIGNATURES),
        },
        rounds=3,
    )
    for name in ("raw keyset read", "audit, roots mode", "audit, signatures mode"):
        RECORDS[name] = ROWS
    roots, signatures = reports[AuditMode.ROOTS], reports[AuditMode.SIGNATURES]
    assert roots.valid and signatures.valid, (roots.to_dict(), signatures.to_dict())
    assert roots.records_checked == signatures.records_checked == ROWS
    assert signatures.signatures_checked == ROWS
    # Only the records after the last checkpoint: fewer than one checkpoint interval.
    assert roots.signatures_checked < registry.checkpoint_every
