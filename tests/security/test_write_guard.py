"""Sign only verified state: a tampered row at any position is never built on or served.

The log is laid out so that each position class of issue 7 holds one record: the head
(the record the next write chains onto), the record right after the latest checkpoint, a
record another entity references, and a record in the middle. Each tamper is applied as
the superuser with triggers off; then the write that would build on that record is
refused with an IntegrityViolationError naming the seq and the check, nothing is
written, and every read that would serve the record fails closed too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.audit import AuditMode
from shared.core.commands import parse_supersede
from shared.core.errors import IntegrityViolationError
from shared.core.principal import Principal
from shared.core.queries import entity_history, get_entity, list_entities, read_log
from shared.core.records import VersionRecord
from shared.service import Registry
from tests.integration.helpers import Dba, create, industry, skill_data, unique

pytestmark = pytest.mark.integration


@dataclasses.dataclass(frozen=True)
class Log:
    referenced: VersionRecord  # a certified Skill (v2) that a JobRole will require
    middle: VersionRecord  # a pending Skill, neither head nor referenced
    after_checkpoint: VersionRecord  # the first record after the signed checkpoint
    head: VersionRecord


@pytest.fixture
def log(registry: Registry, admin: Principal) -> Log:
    skill = create(registry, admin, "Skill", skill_data())  # seq 1
    certified = registry.supersede(
        admin,
        parse_supersede(
            skill.entity_id, {"expected_version": 1, "status": "certified", "reason": "reviewed"}
        ),
    ).records[0]
    middle = create(registry, admin, "Skill", skill_data())  # seq 3
    create(registry, admin, "Skill", skill_data())  # seq 4
    assert registry.sign_checkpoint(admin).tree_size == 4
    after = industry(registry, admin)  # seq 5
    create(registry, admin, "Skill", skill_data())  # seq 6
    head = industry(registry, admin)  # seq 7
    assert (certified.seq, middle.seq, after.seq, head.seq) == (2, 3, 5, 7)
    return Log(certified, middle, after, head)


# How a DBA edits one row, and the check that must catch it.
TAMPERS: dict[str, tuple[str, str]] = {
    "canonical byte": (
        "canonical = set_byte(canonical, 20, get_byte(canonical, 20) # 1)",
        "leaf_hash",
    ),
    "status column": ("status = 'retired'", "content"),
    "jsonb data": ("data = jsonb_set(data, '{name}', '\"Renamed\"')", "content"),
    "leaf hash": ("leaf_hash = set_byte(leaf_hash, 0, get_byte(leaf_hash, 0) # 1)", "leaf_hash"),
    "signature": ("signature = set_byte(signature, 5, get_byte(signature, 5) # 1)", "signature"),
    "chain hash": (
        "chain_hash = set_byte(chain_hash, 31, get_byte(chain_hash, 31) # 1)",
        "signature",
    ),
}


def _writes(registry: Registry, admin: Principal) -> dict[str, Callable[[Log], Any]]:
    """For each position class, the write that builds on the record there."""
    return {
        "head": lambda log: industry(registry, admin),
        "after_checkpoint": lambda log: registry.supersede(
            admin,
            parse_supersede(
                log.after_checkpoint.entity_id,
                {
                    "expected_version": 1,
                    "data": {"name": unique("Industry"), "description": "Renewables"},
                    "reason": "renamed",
                },
            ),
        ),
        "referenced": lambda log: create(
            registry,
            admin,
            "JobRole",
            {
                "name": unique("Role"),
                "description": "Builds the platform",
                "seniority_level": "senior",
                "required_skills": [log.referenced.entity_id],
            },
        ),
        "middle": lambda log: registry.supersede(
            admin,
            parse_supersede(
                log.middle.entity_id, {"expected_version": 1, "status": "certified", "reason": "ok"}
            ),
        ),
    }


def _count(engine: Engine, tenant: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.scalar(
                sa.text("SELECT count(*) FROM registry.entity_versions WHERE tenant_id = :t"),
                {"t": tenant},
            )
        )


@pytest.mark.parametrize("position", ["head", "after_checkpoint", "referenced", "middle"])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_tampered_record_is_not_built_on_or_served(
    registry: Registry,
    admin: Principal,
    admin_engine: Engine,
    log: Log,
    position: str,
    tamper: str,
) -> None:
    target: VersionRecord = getattr(log, position)
    assignment, check = TAMPERS[tamper]
    Dba(admin_engine, admin.tenant_id).run(
        f"UPDATE registry.entity_versions SET {assignment} WHERE tenant_id = :t AND seq = :s",
        s=target.seq,
    )
    before = _count(admin_engine, admin.tenant_id)

    with pytest.raises(IntegrityViolationError) as refused:
        _writes(registry, admin)[position](log)
    assert (refused.value.seq, refused.value.check) == (target.seq, check)
    assert _count(admin_engine, admin.tenant_id) == before

    reads: list[Callable[[], Any]] = [
        lambda: registry.get(admin, get_entity(target.entity_id, target.version)),
        lambda: registry.get(admin, get_entity(target.entity_id)),
        lambda: registry.history(admin, entity_history(target.entity_id)),
        lambda: registry.list_entities(admin, list_entities(limit=100)),
        lambda: registry.log(admin, read_log(from_seq=1, limit=100)),
    ]
    for read in reads:
        with pytest.raises(IntegrityViolationError) as failed:
            read()
        assert failed.value.seq == target.seq
    assert registry.audit(admin, AuditMode.SIGNATURES).first_bad_seq == target.seq
    # The roots mode leaves a covered record's signature column to the signatures mode
    # (its bytes are proven by the signed root); it finds every other tamper at its seq.
    if tamper != "signature":
        assert registry.audit(admin).first_bad_seq == target.seq


def test_a_head_that_no_longer_links_to_its_predecessor_is_not_chained_onto(
    registry: Registry, admin: Principal, admin_engine: Engine, log: Log
) -> None:
    # The head (seq 7) stays genuine; only its predecessor's stored chain hash changes,
    # so the link from seq 6 to the head no longer holds.
    dba = Dba(admin_engine, admin.tenant_id)
    dba.run(
        "UPDATE registry.entity_versions SET chain_hash = sha256(chain_hash) "
        "WHERE tenant_id = :t AND seq = 6"
    )
    before = _count(admin_engine, admin.tenant_id)
    with pytest.raises(IntegrityViolationError) as refused:
        industry(registry, admin)
    assert (refused.value.seq, refused.value.check) == (7, "chain_hash")
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq = 6")
    with pytest.raises(IntegrityViolationError) as refused:
        industry(registry, admin)
    assert (refused.value.seq, refused.value.check) == (7, "chain_hash")
    assert _count(admin_engine, admin.tenant_id) == before - 1
    with pytest.raises(IntegrityViolationError) as gap:
        registry.log(admin, read_log(from_seq=1, limit=100))
    assert (gap.value.seq, gap.value.check) == (7, "seq")


def test_a_deleted_version_fails_the_history_closed(
    registry: Registry, admin: Principal, admin_engine: Engine, log: Log
) -> None:
    Dba(admin_engine, admin.tenant_id).run(
        "DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq = 1"
    )
    with pytest.raises(IntegrityViolationError) as failed:
        registry.history(admin, entity_history(log.referenced.entity_id))
    assert failed.value.check == "version"
    with pytest.raises(IntegrityViolationError):
        registry.log(admin, read_log(from_seq=1, limit=100))
    assert registry.log(admin, read_log(from_seq=2, limit=100)).items[0].seq == 2  # the rest holds
