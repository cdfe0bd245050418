"""What verify-before-write costs (ADR 0005), measured against the unverified path.

The "unverified" benchmarks are the write path as it was before ADR 0005, composed here
from the same repository and core parts: take the append lock, read what the rules need
from columns, seal, insert. The verified benchmarks are the registry's own create and
supersede, which additionally read the head with its predecessor's chain hash and verify
every stored record they build on (content, leaf hash, signature; the head's chain link).
Both run in the same session on the same server; checkpoint signing is off for both, so
the difference is the verification alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from shared.core import entities
from shared.core.canonical import parse_json
from shared.core.commands import create_entity, parse_supersede
from shared.core.principal import Principal
from shared.core.records import RecordContent, VersionRecord, seal_records
from shared.core.signing import LocalSigner
from shared.ledger import new_entity_id, utc_now
from shared.service import Registry
from tests.conftest import ALL_SCOPES
from tests.integration.helpers import skill_data
from tests.performance.support import PAIRS, record_mean

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

PAIRS.update(
    {
        "create: verified/unverified": ("create_verified", "create_unverified"),
        "JobRole, 3 refs: ver/unver": ("create_role_verified", "create_role_unverified"),
        "supersede: verified/unver": ("supersede_verified", "supersede_unverified"),
    }
)
_names = itertools.count()


@pytest.fixture(scope="module")
def plain(runtime_engine: Engine, signer: LocalSigner) -> Registry:
    """The registry without automatic checkpoints, so only the write path is timed."""
    return Registry(runtime_engine, signer, {signer.key_id: signer.public_key}, checkpoint_every=0)


@pytest.fixture(scope="module")
def owner() -> Principal:
    return Principal("bench", f"bench-integrity-{uuid.uuid4().hex[:8]}", ALL_SCOPES)


@pytest.fixture(scope="module")
def skills(plain: Registry, owner: Principal) -> list[str]:
    """Three certified skills for JobRoles to require."""
    ids = []
    for _ in range(3):
        skill = plain.create(owner, create_entity("Skill", skill_data())).records[0]
        plain.supersede(
            owner,
            parse_supersede(
                skill.entity_id, {"expected_version": 1, "status": "certified", "reason": "bench"}
            ),
        )
        ids.append(skill.entity_id)
    return ids


def _role(skill_ids: list[str]) -> dict[str, Any]:
    return {
        "name": f"Role {next(_names)}",
        "description": "Builds the platform",
        "seniority_level": "senior",
        "required_skills": skill_ids,
    }


def _unverified_create(
    registry: Registry, principal: Principal, entity_type: str, data: Any
) -> None:
    """Create as before ADR 0005: reference states from columns, no record verified."""
    clean = entities.validate_data(entity_type, data)
    refs = entities.references(entity_type, clean)
    with registry.repository.append_transaction(principal.tenant_id) as (tx, head):
        states = tx.current_records(sorted({ref.entity_id for ref in refs}))
        assert all(states[ref.entity_id].status == "certified" for ref in refs)
        content = RecordContent(
            tenant_id=principal.tenant_id,
            seq=head.seq + 1,
            entity_id=new_entity_id(),
            version=1,
            entity_type=entity_type,
            status=entities.initial_status(entity_type),
            data=clean,
            created_at=utc_now(),
            created_by=principal.subject,
            reason=None,
            supersedes=None,
        )
        records = seal_records(
            [content], previous_chain_hash=head.chain_hash, signer=registry.signer
        )
        assert tx.insert_records(records, [entities.name_key(clean["name"])]) == 1


def _unverified_supersede(registry: Registry, principal: Principal, entity_id: str) -> None:
    """A data-only supersede as before ADR 0005: the predecessor used unverified."""
    with registry.repository.append_transaction(principal.tenant_id) as (tx, head):
        current = tx.current(entity_id)
        assert current is not None
        previous = parse_json(current.canonical)
        assert isinstance(previous, dict)
        data = entities.validate_data(
            "Skill", {**previous["data"], "description": f"Revision {next(_names)}"}
        )
        content = dataclasses.replace(
            current.content,
            seq=head.seq + 1,
            version=current.version + 1,
            data=data,
            created_at=utc_now(),
            reason="bench",
            supersedes=current.version,
        )
        records = seal_records(
            [content], previous_chain_hash=head.chain_hash, signer=registry.signer
        )
        assert tx.insert_records(records, [entities.name_key(data["name"])]) == 1


def test_create_verified(benchmark: Any, plain: Registry, owner: Principal) -> None:
    benchmark(
        lambda: plain.create(owner, create_entity("Skill", skill_data(f"verified {next(_names)}")))
    )
    record_mean("create_verified", benchmark)


def test_create_unverified(benchmark: Any, plain: Registry, owner: Principal) -> None:
    benchmark(
        lambda: _unverified_create(plain, owner, "Skill", skill_data(f"unver {next(_names)}"))
    )
    record_mean("create_unverified", benchmark)


def test_create_role_verified(
    benchmark: Any, plain: Registry, owner: Principal, skills: list[str]
) -> None:
    benchmark(lambda: plain.create(owner, create_entity("JobRole", _role(skills))))
    record_mean("create_role_verified", benchmark)


def test_create_role_unverified(
    benchmark: Any, plain: Registry, owner: Principal, skills: list[str]
) -> None:
    benchmark(lambda: _unverified_create(plain, owner, "JobRole", _role(skills)))
    record_mean("create_role_unverified", benchmark)


def test_supersede_verified(benchmark: Any, plain: Registry, owner: Principal) -> None:
    data = skill_data()
    record: list[VersionRecord] = [plain.create(owner, create_entity("Skill", data)).records[0]]

    def supersede() -> None:
        current = record[0]
        revised = {**data, "description": f"Revision {next(_names)}"}
        record[0] = plain.supersede(
            owner,
            parse_supersede(
                current.entity_id,
                {"expected_version": current.version, "data": revised, "reason": "bench"},
            ),
        ).records[0]

    benchmark(supersede)
    record_mean("supersede_verified", benchmark)


def test_supersede_unverified(benchmark: Any, plain: Registry, owner: Principal) -> None:
    entity_id = plain.create(owner, create_entity("Skill", skill_data())).records[0].entity_id
    benchmark(lambda: _unverified_supersede(plain, owner, entity_id))
    record_mean("supersede_unverified", benchmark)


def test_guard_one_record(benchmark: Any, plain: Registry, owner: Principal) -> None:
    """The pure cost of verifying one stored record (content, leaf, key, signature)."""
    record = plain.create(owner, create_entity("Skill", skill_data())).records[0]
    benchmark(lambda: plain.guard.record(record, use="bench"))
    record_mean("guard.record (verify one stored record)", benchmark)
