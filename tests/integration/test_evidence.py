"""Checkpoints, inclusion and consistency proofs, and publication, on a real database."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from shared.core import merkle
from shared.core.checkpoints import Checkpoint, InclusionProof
from shared.core.commands import parse_batch, parse_supersede
from shared.core.errors import InputError, IntegrityViolationError, NotFoundError
from shared.core.hashing import leaf_hash
from shared.core.principal import Principal
from shared.core.queries import get_entity
from shared.core.signing import LocalSigner
from shared.core.verification import verify_checkpoint
from shared.publisher import DirectoryCheckpointPublisher
from shared.service import Registry
from tests.integration.helpers import Dba, create, skill_data

pytestmark = pytest.mark.integration


def test_reads_never_sign_and_the_command_signs_once_per_growth(
    registry: Registry, admin: Principal
) -> None:
    with pytest.raises(NotFoundError):
        registry.sign_checkpoint(admin)  # empty log: nothing to sign yet
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    with pytest.raises(NotFoundError, match="no checkpoint has been signed"):
        registry.latest_checkpoint(admin)  # a read: it never signs
    report = registry.verify(
        admin, get_entity(create(registry, admin, "Skill", skill_data()).entity_id)
    )
    assert not report.valid and report.checkpoint is None  # nor does verify
    assert _checkpoint_sizes(registry, admin.tenant_id) == []
    first = registry.sign_checkpoint(admin)
    assert first.tree_size == 4
    verify_checkpoint(first, registry.trusted_keys, note_keys=registry.checkpoint_keys)
    assert registry.latest_checkpoint(admin) == first
    assert registry.sign_checkpoint(admin) == first  # no growth, no new signature
    create(registry, admin, "Skill", skill_data())
    assert registry.latest_checkpoint(admin) == first
    assert registry.sign_checkpoint(admin).tree_size == 5


def test_verify_says_when_its_proof_is_against_an_older_tree(
    registry: Registry, admin: Principal
) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    create(registry, admin, "Skill", skill_data())
    later = create(registry, admin, "Skill", skill_data())
    report = registry.verify(admin, get_entity(skill.entity_id))
    assert report.valid and report.checkpoint is not None
    assert report.checkpoint.tree_size == 1
    detail = {c.name: c.detail for c in report.checks}["checkpoint"]
    assert "the 2 record(s) after it await the next checkpoint" in detail
    pending = registry.verify(admin, get_entity(later.entity_id))
    assert not pending.valid
    assert [c.name for c in pending.checks if not c.ok] == ["inclusion"]
    assert pending.inclusion_proof is None


def test_verify_returns_a_proof_an_auditor_can_check_offline(
    registry: Registry, admin: Principal
) -> None:
    records = [create(registry, admin, "Skill", skill_data()) for _ in range(5)]
    registry.sign_checkpoint(admin)
    report = registry.verify(admin, get_entity(records[2].entity_id)).to_dict()
    assert report["valid"] is True
    # Only the response and the public key: no database, no service code paths.
    checkpoint = Checkpoint.from_dict(report["checkpoint"])
    proof = InclusionProof.from_dict(report["inclusion_proof"])
    verify_checkpoint(checkpoint, registry.trusted_keys, note_keys=registry.checkpoint_keys)
    merkle.verify_inclusion(
        index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=leaf_hash(records[2].canonical),
        proof=proof.hashes,
        root=checkpoint.root_hash,
    )


def test_verify_an_older_version(registry: Registry, admin: Principal) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    registry.supersede(
        admin,
        parse_supersede(
            skill.entity_id, {"expected_version": 1, "status": "certified", "reason": "ok"}
        ),
    )
    registry.sign_checkpoint(admin)
    report = registry.verify(admin, get_entity(skill.entity_id, version=1))
    assert report.valid
    assert report.record.version == 1
    with pytest.raises(NotFoundError):
        registry.verify(admin, get_entity(skill.entity_id, version=3))


def test_consistency_between_checkpoints(registry: Registry, admin: Principal) -> None:
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    old = registry.sign_checkpoint(admin)
    for _ in range(4):
        create(registry, admin, "Skill", skill_data())
    new = registry.sign_checkpoint(admin)
    report = registry.consistency(admin, old.tree_size, new.tree_size).to_dict()
    assert report["valid"] is True
    assert report["first_root"] == old.root_hash.hex()
    assert report["second_root"] == new.root_hash.hex()
    merkle.verify_consistency(
        first_size=3,
        second_size=7,
        first_root=old.root_hash,
        second_root=new.root_hash,
        proof=[bytes.fromhex(h) for h in report["proof"]["hashes"]],
    )
    with pytest.raises(InputError):
        registry.consistency(admin, 5, 2)
    with pytest.raises(NotFoundError):
        registry.consistency(admin, 1, 99)
    with pytest.raises(NotFoundError, match="no signed checkpoint of tree size 5"):
        registry.consistency(admin, 5, 7)  # the log has 5 records, but no checkpoint of 5
    same = registry.consistency(admin, 7, 7)
    assert same.valid and same.proof.hashes == ()


def test_consistency_reports_a_checkpoint_the_log_no_longer_matches(
    registry: Registry, admin: Principal, admin_engine: Engine
) -> None:
    for _ in range(2):
        create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    for _ in range(2):
        create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    Dba(admin_engine, admin.tenant_id).run(
        "UPDATE registry.entity_versions SET leaf_hash = :h WHERE tenant_id = :t AND seq = 3",
        h=b"\x07" * 32,
    )
    report = registry.consistency(admin, 2, 4).to_dict()
    assert report["valid"] is False
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["consistency"]
    # The roots in the answer are the signed ones, never recomputed from today's rows.
    assert report["second_root"] == report["second_checkpoint"]["root_hash"]


def test_new_checkpoints_are_published(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, tmp_path: Path
) -> None:
    publishing = Registry(
        runtime_engine,
        signer,
        {signer.key_id: signer.public_key},
        DirectoryCheckpointPublisher(tmp_path),
    )
    create(publishing, admin, "Skill", skill_data())
    checkpoint = publishing.sign_checkpoint(admin)
    published = sorted(tmp_path.rglob("*.json"))
    assert [p.name for p in published] == ["00000000000000000001.json", "latest.json"]
    for document in published:
        assert Checkpoint.from_dict(json.loads(document.read_text())) == checkpoint


def test_concurrent_checkpoint_requests_agree_on_one_checkpoint(
    registry: Registry, admin: Principal
) -> None:
    for _ in range(5):
        create(registry, admin, "Skill", skill_data())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: registry.sign_checkpoint(admin), range(8)))
    assert {c.tree_size for c in results} == {5}
    # Whoever lost the insert race returns the stored checkpoint, not its own signature.
    assert len({c.signature for c in results}) == 1


@pytest.fixture
def every_five(runtime_engine: Engine, signer: LocalSigner) -> Registry:
    """A registry that signs a checkpoint once five records follow the last one."""
    return Registry(runtime_engine, signer, {signer.key_id: signer.public_key}, checkpoint_every=5)


def _checkpoint_sizes(registry: Registry, tenant: str) -> list[int]:
    with registry.repository.tenant_transaction(tenant) as tx:
        return [c.tree_size for c in tx.checkpoints()]


def test_writes_sign_checkpoints_without_being_asked(
    every_five: Registry, admin: Principal
) -> None:
    for _ in range(12):
        create(every_five, admin, "Skill", skill_data())
    assert _checkpoint_sizes(every_five, admin.tenant_id) == [5, 10]
    every_five.create(
        admin, parse_batch({"entities": [{"entity_type": "Skill", "data": skill_data()}] * 1})
    )
    every_five.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(7)]}
        ),
    )
    assert _checkpoint_sizes(every_five, admin.tenant_id) == [5, 10, 20]
    # Each was built incrementally from the previous frontier; the audit recomputes
    # every root from scratch and checks it against every checkpoint.
    report = every_five.audit(admin)
    assert report.valid
    assert (report.records_checked, report.checkpoints_checked) == (20, 3)


def test_an_automatic_checkpoint_exposes_a_dropped_tail(
    every_five: Registry, admin: Principal, admin_engine: Engine
) -> None:
    for _ in range(10):
        create(every_five, admin, "Skill", skill_data())
    Dba(admin_engine, admin.tenant_id).run(
        "DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 8"
    )
    report = every_five.audit(admin).to_dict()
    assert (report["first_bad_seq"], report["error"]["check"]) == (9, "truncation")


def test_a_tampered_frontier_stops_signing_but_not_writing(
    every_five: Registry, admin: Principal, admin_engine: Engine
) -> None:
    for _ in range(5):
        create(every_five, admin, "Skill", skill_data())
    Dba(admin_engine, admin.tenant_id).run(
        "UPDATE registry.checkpoints SET frontier = :f WHERE tenant_id = :t AND tree_size = 5",
        f=b"\x02" * 64,
    )
    for _ in range(5):  # the writes succeed; the checkpoint they would sign is refused
        create(every_five, admin, "Skill", skill_data())
    assert _checkpoint_sizes(every_five, admin.tenant_id) == [5]
    with pytest.raises(IntegrityViolationError) as err:
        every_five.sign_checkpoint(admin)
    assert (err.value.check, err.value.seq) == ("checkpoint_frontier", 5)
