"""Verify one record and prove consistency: flat from 10^3 records to larger logs.

Proofs are built from O(log n) tiles (ADR 0006), so their cost must not grow with the
log. The small log has 1,000 records; the large one 100,000 by default, or 1,000,000
with ``PERF_LARGE=1`` (filled through the batch path; takes several minutes). The
summary prints large/small ratios; issue 8 asks for at most 2.

    make bench PYTEST_ARGS="-k proof_scaling"
    PERF_LARGE=1 make bench PYTEST_ARGS="-k proof_scaling"
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from shared.core.commands import parse_batch
from shared.core.principal import Principal
from shared.core.queries import get_entity
from shared.service import Registry
from tests.conftest import ALL_SCOPES
from tests.integration.helpers import skill_data
from tests.performance.support import PAIRS, record_mean

pytestmark = [pytest.mark.integration, pytest.mark.benchmark]

SMALL = 1_000
LARGE = 1_000_000 if os.environ.get("PERF_LARGE") == "1" else 100_000
BATCH = 1_000

PAIRS[f"verify: {LARGE:,} vs {SMALL:,}"] = ("verify (large log)", "verify (small log)")
PAIRS[f"consistency: {LARGE:,} vs {SMALL:,}"] = (
    "consistency (large log)",
    "consistency (small log)",
)


def _log(registry: Registry, size: int) -> tuple[Principal, str]:
    owner = Principal("bench", f"bench-scale-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    middle = ""
    for start in range(0, size, BATCH):
        records = registry.create(
            owner,
            parse_batch(
                {
                    "entities": [
                        {"entity_type": "Skill", "data": skill_data(f"Skill {start + i}")}
                        for i in range(BATCH)
                    ]
                }
            ),
        ).records
        if start <= size // 2 < start + BATCH:
            middle = records[size // 2 - start].entity_id
    registry.sign_checkpoint(owner)
    return owner, middle


@pytest.fixture(scope="module")
def small_log(registry: Registry) -> tuple[Principal, str]:
    return _log(registry, SMALL)


@pytest.fixture(scope="module")
def large_log(registry: Registry) -> tuple[Principal, str]:
    return _log(registry, LARGE)


@pytest.mark.parametrize("which", ["small", "large"])
def test_verify_one_record(
    benchmark: Any, request: pytest.FixtureRequest, registry: Registry, which: str
) -> None:
    owner, entity_id = request.getfixturevalue(f"{which}_log")
    report = benchmark(lambda: registry.verify(owner, get_entity(entity_id)))
    assert report.valid, [c for c in report.checks if not c.ok]
    record_mean(f"verify ({which} log)", benchmark)


@pytest.mark.parametrize("which", ["small", "large"])
def test_consistency(
    benchmark: Any, request: pytest.FixtureRequest, registry: Registry, which: str
) -> None:
    owner, _ = request.getfixturevalue(f"{which}_log")
    size = SMALL if which == "small" else LARGE
    first, second = size // 3 + 1, size - 7
    report = benchmark(lambda: registry.consistency(owner, first, second))
    assert report.proof.hashes
    record_mean(f"consistency ({which} log)", benchmark)
