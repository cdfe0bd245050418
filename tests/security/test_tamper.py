"""A DBA with superuser rights edits the log by hand; verify and audit must say where.

Each test switches triggers off the way a superuser can (session_replication_role =
replica), alters the stored rows, and checks that the audit names the first bad seq and
the check that failed, and that verifying an affected record is not valid.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from shared.core.checkpoints import CheckpointSigner
from shared.core.errors import IntegrityViolationError
from shared.core.principal import Principal
from shared.core.queries import get_entity
from shared.core.records import VersionRecord, seal_record
from shared.core.signing import LocalSigner
from shared.service import Registry
from tests.conftest import TEST_LOG_ORIGIN
from tests.integration.helpers import Dba, create, skill_data

pytestmark = pytest.mark.integration


@pytest.fixture
def log(registry: Registry, admin: Principal) -> list[VersionRecord]:
    """Eight independent records (seq 1..8) in the test's tenant."""
    return [create(registry, admin, "Skill", skill_data()) for _ in range(8)]


@pytest.fixture
def dba(admin_engine: Engine, admin: Principal) -> Dba:
    return Dba(admin_engine, admin.tenant_id)


def _audit_failure(registry: Registry, admin: Principal) -> dict[str, Any]:
    report = registry.audit(admin).to_dict()
    assert report["valid"] is False, report
    return report


def test_untouched_log_audits_valid(
    registry: Registry, admin: Principal, log: list[VersionRecord]
) -> None:
    report = registry.audit(admin)
    assert report.valid and report.records_checked == len(log)
    registry.sign_checkpoint(admin)
    assert all(registry.verify(admin, get_entity(r.entity_id)).valid for r in log[:2])


def test_a_one_byte_change_is_found_at_its_seq(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    registry.sign_checkpoint(admin)
    target = log[4]
    original = target.canonical
    position = original.index(b"Writes")  # a byte inside the description
    dba.run(
        "UPDATE registry.entity_versions SET canonical = :c WHERE tenant_id = :t AND seq = :s",
        c=original[:position] + b"w" + original[position + 1 :],
        s=target.seq,
    )
    report = _audit_failure(registry, admin)
    assert report["first_bad_seq"] == target.seq
    assert report["error"]["check"] == "content"
    verdict = registry.verify(admin, get_entity(target.entity_id)).to_dict()
    assert verdict["valid"] is False
    assert {c["name"] for c in verdict["checks"] if not c["ok"]} >= {"content", "leaf_hash"}
    assert registry.verify(admin, get_entity(log[3].entity_id)).valid  # neighbours still verify


def test_editing_only_the_jsonb_copy_is_found(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    dba.run(
        "UPDATE registry.entity_versions "
        "SET data = jsonb_set(data, '{category}', '\"soft_skill\"') "
        "WHERE tenant_id = :t AND seq = 3"
    )
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (3, "content")


def test_a_deleted_row_is_found_at_its_seq(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq = 4")
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (4, "seq")
    verdict = registry.verify(admin, get_entity(log[4].entity_id))
    assert not verdict.valid  # seq 5 no longer links to anything


def test_swapped_seqs_are_found(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    parking = 10**12
    dba.run(
        "UPDATE registry.entity_versions SET seq = :p WHERE tenant_id = :t AND seq = 3", p=parking
    )
    dba.run("UPDATE registry.entity_versions SET seq = 3 WHERE tenant_id = :t AND seq = 6")
    dba.run(
        "UPDATE registry.entity_versions SET seq = 6 WHERE tenant_id = :t AND seq = :p", p=parking
    )
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (3, "content")


def test_dropping_the_newest_rows_is_found_against_the_checkpoint(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    checkpoint = registry.sign_checkpoint(admin)
    assert checkpoint.tree_size == 8
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 6")
    report = _audit_failure(registry, admin)
    assert report["records_checked"] == 6
    assert (report["first_bad_seq"], report["error"]["check"]) == (7, "truncation")
    verdict = registry.verify(admin, get_entity(log[0].entity_id)).to_dict()
    assert verdict["valid"] is False
    assert [c["name"] for c in verdict["checks"] if not c["ok"]] == ["inclusion"]


def test_dropping_rows_and_their_checkpoint_is_found_by_an_older_checkpoint(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    registry.sign_checkpoint(admin)  # size 8
    extra = create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)  # size 9
    dba.run("DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size = 9")
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq >= 8")
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (8, "truncation")
    assert extra.seq == 9


def _forge(
    records: list[VersionRecord], signer: LocalSigner, key_id_label: str | None
) -> list[dict[str, Any]]:
    """Re-seal every record with edited data: a whole, self-consistent chain."""
    previous = bytes(32)
    forged = []
    for record in records:
        content = dataclasses.replace(record.content, data={**record.data, "description": "forged"})
        sealed = seal_record(content, previous_chain_hash=previous, signer=signer)
        if key_id_label is not None:
            sealed = dataclasses.replace(sealed, key_id=key_id_label)
        previous = sealed.chain_hash
        forged.append(
            {
                "s": sealed.seq,
                "canonical": sealed.canonical,
                "data": sealed.data,
                "leaf": sealed.leaf_hash,
                "chain": sealed.chain_hash,
                "sig": sealed.signature,
                "kid": sealed.key_id,
            }
        )
    return forged


@pytest.mark.parametrize("pose_as_service_key", [False, True])
def test_a_rewritten_consistent_chain_without_the_private_key_is_found(
    registry: Registry,
    admin: Principal,
    log: list[VersionRecord],
    dba: Dba,
    pose_as_service_key: bool,
) -> None:
    attacker = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
    dba.run(
        "INSERT INTO registry.signing_keys VALUES (:k, 'Ed25519', :pem, now())",
        k=attacker.key_id,
        pem=attacker.public_key.pem.decode(),
    )
    label = registry.signer.key_id if pose_as_service_key else None
    for row in _forge(log, attacker, label):
        dba.run(
            "UPDATE registry.entity_versions SET canonical = :canonical, "
            "data = CAST(:data AS jsonb), leaf_hash = :leaf, chain_hash = :chain, "
            "signature = :sig, key_id = :kid WHERE tenant_id = :t AND seq = :s",
            **{**row, "data": json.dumps(row["data"])},
        )
    report = _audit_failure(registry, admin)
    expected_check = "signature" if pose_as_service_key else "key"
    assert (report["first_bad_seq"], report["error"]["check"]) == (1, expected_check)
    verdict = registry.verify(admin, get_entity(log[5].entity_id)).to_dict()
    assert verdict["valid"] is False
    assert expected_check in {c["name"] for c in verdict["checks"] if not c["ok"]}


def test_a_forged_checkpoint_is_found(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    registry.sign_checkpoint(admin)
    dba.run(
        "UPDATE registry.checkpoints SET root_hash = :r WHERE tenant_id = :t AND tree_size = 8",
        r=b"\x01" * 32,
    )
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (8, "checkpoint_signature")


def test_a_record_signed_with_the_checkpoint_key_is_not_genuine(
    registry: Registry, admin: Principal, log: list[VersionRecord], dba: Dba
) -> None:
    # Whoever holds the checkpoint key (it signs notes) must not be able to mint records.
    assert registry.checkpoint_key is not None
    for row in _forge(log, registry.checkpoint_key, None):  # type: ignore[arg-type]
        dba.run(
            "UPDATE registry.entity_versions SET canonical = :canonical, "
            "data = CAST(:data AS jsonb), leaf_hash = :leaf, chain_hash = :chain, "
            "signature = :sig, key_id = :kid WHERE tenant_id = :t AND seq = :s",
            **{**row, "data": json.dumps(row["data"])},
        )
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (1, "key")
    verdict = registry.verify(admin, get_entity(log[5].entity_id)).to_dict()
    assert verdict["valid"] is False
    assert "key" in {c["name"] for c in verdict["checks"] if not c["ok"]}


def test_a_checkpoint_note_signed_with_a_record_key_is_not_genuine(
    registry: Registry, admin: Principal, log: list[VersionRecord]
) -> None:
    # The record key is Ed25519 too, so it could sign a well-formed note; it must not pass
    # as the log's checkpoint key.
    record_key = registry.signer
    assert isinstance(record_key, LocalSigner)
    posing = CheckpointSigner(TEST_LOG_ORIGIN, record_key.public_key, record_key.sign)
    forger = Registry(registry.engine, record_key, registry.trusted_keys, checkpoint_key=posing)
    forged = forger.sign_checkpoint(admin)
    assert forged.note is not None and forged.key_id == record_key.key_id
    report = _audit_failure(registry, admin)
    assert (report["first_bad_seq"], report["error"]["check"]) == (8, "checkpoint_key")
    with pytest.raises(IntegrityViolationError) as served:
        registry.log_checkpoint(admin)
    assert served.value.check == "checkpoint_key"
    verdict = registry.verify(admin, get_entity(log[5].entity_id)).to_dict()
    assert verdict["valid"] is False
