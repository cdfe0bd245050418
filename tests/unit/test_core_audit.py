"""LogAuditor: a streaming re-verification that names the first bad seq."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

import pytest

from shared.core import merkle
from shared.core.audit import LogAuditor
from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.errors import VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH
from shared.core.records import RecordContent, VersionRecord, seal_record
from shared.core.signing import LocalSigner


def _log(signer: LocalSigner, now: datetime, size: int) -> list[VersionRecord]:
    records: list[VersionRecord] = []
    previous = GENESIS_CHAIN_HASH
    for seq in range(1, size + 1):
        content = RecordContent(
            tenant_id="acme",
            seq=seq,
            entity_id=f"01a20fba-0000-7000-8000-{seq:012d}",
            version=1,
            entity_type="Industry",
            status="active",
            data={"name": f"Industry {seq}", "description": "d"},
            created_at=now,
            created_by="alice",
            reason=None,
            supersedes=None,
        )
        record = seal_record(content, previous_chain_hash=previous, signer=signer)
        previous = record.chain_hash
        records.append(record)
    return records


def _checkpoint(records: list[VersionRecord], signer: LocalSigner, now: datetime) -> Checkpoint:
    return sign_checkpoint(
        tenant_id="acme",
        tree_size=len(records),
        root_hash=merkle.root([r.leaf_hash for r in records]),
        chain_head=records[-1].chain_hash,
        created_at=now,
        signer=signer,
    )


def _audit(
    records: list[VersionRecord], signer: LocalSigner, checkpoints: list[Checkpoint]
) -> LogAuditor:
    auditor = LogAuditor({signer.key_id: signer.public_key}, checkpoints)
    for record in records:
        auditor.add(record)
    auditor.finish()
    return auditor


def test_an_intact_log_with_checkpoints_passes(ed25519_signer: LocalSigner, now: datetime) -> None:
    log = _log(ed25519_signer, now, 9)
    checkpoints = [_checkpoint(log[:4], ed25519_signer, now), _checkpoint(log, ed25519_signer, now)]
    auditor = _audit(log, ed25519_signer, checkpoints)
    assert (auditor.records_checked, auditor.checkpoints_checked) == (9, 2)


@pytest.mark.parametrize(
    ("damage", "seq", "check"),
    [
        (lambda log: log[:3] + log[4:], 4, "seq"),
        (lambda log: [*log[:5], log[6], log[5], *log[7:]], 6, "seq"),
        (
            lambda log: [*log[:2], dataclasses.replace(log[2], status="retired"), *log[3:]],
            3,
            "content",
        ),
        (
            lambda log: [*log[:6], dataclasses.replace(log[6], chain_hash=b"\0" * 32), *log[7:]],
            7,
            "chain_hash",
        ),
        (
            lambda log: [*log[:1], dataclasses.replace(log[1], signature=b"\0" * 64), *log[2:]],
            2,
            "signature",
        ),
        (lambda log: log[:7], 8, "truncation"),
    ],
)
def test_damage_is_reported_at_its_seq(
    ed25519_signer: LocalSigner,
    now: datetime,
    damage: Callable[[list[VersionRecord]], list[VersionRecord]],
    seq: int,
    check: str,
) -> None:
    log = _log(ed25519_signer, now, 9)
    checkpoint = _checkpoint(log, ed25519_signer, now)
    with pytest.raises(VerificationError) as err:
        _audit(damage(log), ed25519_signer, [checkpoint])
    assert (err.value.seq, err.value.check) == (seq, check)


def test_a_checkpoint_the_log_does_not_match(ed25519_signer: LocalSigner, now: datetime) -> None:
    log = _log(ed25519_signer, now, 6)
    other = _log(ed25519_signer, now.replace(year=2025), 6)  # a different history, same size
    with pytest.raises(VerificationError) as err:
        _audit(log, ed25519_signer, [_checkpoint(other, ed25519_signer, now)])
    assert (err.value.seq, err.value.check) == (6, "checkpoint_root")


def test_a_checkpoint_from_an_untrusted_key(
    ed25519_signer: LocalSigner, p256_signer: LocalSigner, now: datetime
) -> None:
    log = _log(ed25519_signer, now, 3)
    with pytest.raises(VerificationError) as err:
        _audit(log, ed25519_signer, [_checkpoint(log, p256_signer, now)])
    assert (err.value.seq, err.value.check) == (3, "checkpoint_key")
