"""LogAuditor: a streaming re-verification that names the first bad seq."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

import pytest

from shared.core import merkle
from shared.core.audit import AuditMode, LogAuditor, LogEntry, verify_entry_content
from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.errors import InputError, VerificationError
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


# --- the two modes ---------------------------------------------------------------------


def _audit_in(
    mode: AuditMode,
    records: list[VersionRecord],
    signer: LocalSigner,
    checkpoints: list[Checkpoint],
) -> LogAuditor:
    auditor = LogAuditor({signer.key_id: signer.public_key}, checkpoints, mode=mode)
    for record in records:
        auditor.add_entry(LogEntry.of(record))
    auditor.finish()
    return auditor


def _bad_signature(record: VersionRecord) -> VersionRecord:
    return dataclasses.replace(record, signature=b"\0" * 64)


def test_the_roots_mode_checks_signatures_only_beyond_the_last_checkpoint(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    log = _log(ed25519_signer, now, 9)
    checkpoint = _checkpoint(log[:6], ed25519_signer, now)
    auditor = _audit_in(AuditMode.ROOTS, log, ed25519_signer, [checkpoint])
    assert (auditor.signatures_checked, auditor.checkpoints_checked) == (3, 1)
    # A covered record's signature column is redundant evidence the roots mode skips ...
    covered = [*log[:2], _bad_signature(log[2]), *log[3:]]
    assert _audit_in(AuditMode.ROOTS, covered, ed25519_signer, [checkpoint]).records_checked == 9
    # ... and the signatures mode does not.
    with pytest.raises(VerificationError) as err:
        _audit_in(AuditMode.SIGNATURES, covered, ed25519_signer, [checkpoint])
    assert (err.value.seq, err.value.check) == (3, "signature")
    # Beyond the last checkpoint a record's own signature is the only evidence.
    tail = [*log[:7], _bad_signature(log[7]), log[8]]
    with pytest.raises(VerificationError) as err:
        _audit_in(AuditMode.ROOTS, tail, ed25519_signer, [checkpoint])
    assert (err.value.seq, err.value.check) == (8, "signature")


def test_the_roots_mode_finds_rewritten_bytes_at_the_covering_checkpoint(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    """A forger who rewrites a record and recomputes every hash after it (a DBA can) is
    caught by the signed root: the record's leaf is recomputed from the forged bytes."""
    log = _log(ed25519_signer, now, 8)
    checkpoints = [_checkpoint(log[:4], ed25519_signer, now), _checkpoint(log, ed25519_signer, now)]
    forged_content = dataclasses.replace(
        log[5].content, data={"name": "Forged", "description": "d"}
    )
    forged = [*log[:5]]
    previous = log[4].chain_hash
    for content in [forged_content, *(r.content for r in log[6:])]:
        record = seal_record(content, previous_chain_hash=previous, signer=ed25519_signer)
        forged.append(record)
        previous = record.chain_hash
    with pytest.raises(VerificationError) as err:
        _audit_in(AuditMode.ROOTS, forged, ed25519_signer, checkpoints)
    assert (err.value.seq, err.value.check) == (8, "checkpoint_root")
    assert "seqs 5..8" in err.value.detail


@pytest.mark.parametrize("mode", list(AuditMode))
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("status", "retired"),
        ("version", 2),
        ("created_by", "mallory"),
        ("reason", "edited"),
        ("data", {"name": "Industry 3", "description": "D"}),
        ("data", {"name": "Industry 3", "description": "d", "extra": True}),
        ("created_at", "2026-01-01T00:00:00.000000Z"),
    ],
)
def test_every_content_column_is_held_against_the_canonical_bytes(
    ed25519_signer: LocalSigner, now: datetime, mode: AuditMode, column: str, value: object
) -> None:
    log = _log(ed25519_signer, now, 5)
    entries = [LogEntry.of(r) for r in log]
    entries[2] = entries[2]._replace(content={**entries[2].content, column: value})
    auditor = LogAuditor({ed25519_signer.key_id: ed25519_signer.public_key}, mode=mode)
    with pytest.raises(VerificationError) as err:
        for entry in entries:
            auditor.add_entry(entry)
    assert (err.value.seq, err.value.check) == (3, "content")


def test_a_type_change_python_would_call_equal_is_still_found(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    """True == 1 in Python; the content check compares canonical bytes, not values (1.0
    and 1 are one JSON number with one canonical form, so that is no difference)."""
    content = dataclasses.replace(
        _log(ed25519_signer, now, 1)[0].content, data={"name": "n", "description": "d", "n": 1}
    )
    record = seal_record(content, previous_chain_hash=GENESIS_CHAIN_HASH, signer=ed25519_signer)
    for changed in (True, "1"):
        entry = LogEntry.of(record)
        entry = entry._replace(content={**entry.content, "data": {**record.data, "n": changed}})
        with pytest.raises(VerificationError) as err:
            verify_entry_content(entry)
        assert err.value.check == "content"


def test_values_the_fast_comparison_cannot_decide_fall_back_to_rfc_8785(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    """Floats and keys outside the BMP are written differently by json.dumps and RFC 8785;
    the exact check decides, so a genuine record still passes."""
    base = _log(ed25519_signer, now, 1)[0].content
    for data in ({"name": "n", "description": "d", "x": 1e21}, {"\U0001f600": "a", "\uff01": "b"}):
        record = seal_record(
            dataclasses.replace(base, data=data),
            previous_chain_hash=GENESIS_CHAIN_HASH,
            signer=ed25519_signer,
        )
        verify_entry_content(LogEntry.of(record))


def test_an_entry_read_from_record_json_round_trips(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    record = _log(ed25519_signer, now, 1)[0]
    entry = LogEntry.from_dict(record.to_dict())
    assert entry == LogEntry.of(record)
    assert entry.record() == record
    with pytest.raises(InputError):
        LogEntry.from_dict({**record.to_dict(), "leaf_hash": "zz"})
