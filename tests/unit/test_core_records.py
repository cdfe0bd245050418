from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from shared.core import records
from shared.core.canonical import canonicalize, parse_json
from shared.core.checkpoints import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    sign_checkpoint,
)
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH, chain_hash, leaf_hash, sha256
from shared.core.records import (
    RECORD_FORMAT,
    RECORD_SIGNATURE_FORMAT,
    RecordContent,
    VersionRecord,
    content_bytes,
    seal_record,
    seal_records,
    signature_statement,
)
from shared.core.signing import LocalSigner, PublicKey
from shared.core.verification import (
    CheckResult,
    record_checks,
    verify_checkpoint,
    verify_record,
)
from shared.core.wire import format_timestamp, parse_timestamp

ENTITY_ID = "0b6f3a57-2f0e-4f8e-9a4c-3d2b1a0f9e8d"
PREVIOUS = sha256(b"previous chain head")


def _fields(now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "seq": 42,
        "entity_id": ENTITY_ID,
        "version": 2,
        "entity_type": "Skill",
        "status": "certified",
        "data": {"name": "Python", "description": "The language", "category": "technical"},
        "created_at": now,
        "created_by": "svc-a",
        "reason": "certified after review",
        "supersedes": 1,
    }


@pytest.fixture
def record(now: datetime, ed25519_signer: LocalSigner) -> VersionRecord:
    return seal_record(
        RecordContent(**_fields(now)), previous_chain_hash=PREVIOUS, signer=ed25519_signer
    )


@pytest.fixture
def trusted(ed25519_signer: LocalSigner) -> dict[str, PublicKey]:
    return {ed25519_signer.key_id: ed25519_signer.public_key}


# --- timestamps ------------------------------------------------------------------------


def test_format_timestamp(now: datetime) -> None:
    assert format_timestamp(now) == "2026-11-24T22:24:56.123456Z"
    assert format_timestamp(now.replace(microsecond=0)) == "2026-11-24T22:24:56.000000Z"
    plus_two = now.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-11-24T22:24:56.123456Z"
    assert format_timestamp(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000000Z"


def test_format_timestamp_rejects_naive() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        format_timestamp(datetime(2026, 1, 1))


def test_parse_timestamp_round_trip(now: datetime) -> None:
    assert parse_timestamp(format_timestamp(now)) == now
    assert parse_timestamp("2026-11-24T22:24:56.123456Z").tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T22:24:56Z",
        "2026-11-24T22:24:56.123Z",
        "2026-11-24T22:24:56.123456+00:00",
        "2026-11-24 22:24:56.123456Z",
        "2026-13-24T22:24:56.123456Z",
        "2026-11-24T22:24:56.123456Z\n",
        "",
    ],
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_timestamp(text)


# --- content and statements ------------------------------------------------------------


def test_content_bytes_are_canonical_and_complete(now: datetime) -> None:
    raw = content_bytes(RecordContent(**_fields(now)))
    assert canonicalize(parse_json(raw)) == raw
    assert parse_json(raw) == {
        "format": RECORD_FORMAT,
        **_fields(now),
        "created_at": "2026-11-24T22:24:56.123456Z",
    }


def test_content_bytes_reject_bad_data(now: datetime) -> None:
    with pytest.raises(InputError) as info:
        content_bytes(RecordContent(**{**_fields(now), "data": {"tags": ["a", float("nan")]}}))
    assert info.value.path == "$.data.tags[1]"


def test_signature_statement(now: datetime) -> None:
    content = RecordContent(**{**_fields(now), "seq": 1, "version": 1})
    statement = signature_statement(content, b"\xab" * 32, b"\xcd" * 32, "sha256:00")
    assert json.loads(statement) == {
        "format": RECORD_SIGNATURE_FORMAT,
        "tenant_id": "acme",
        "seq": 1,
        "entity_id": ENTITY_ID,
        "version": 1,
        "leaf_hash": "ab" * 32,
        "chain_hash": "cd" * 32,
        "key_id": "sha256:00",
        "created_at": "2026-11-24T22:24:56.123456Z",
    }
    assert canonicalize(json.loads(statement)) == statement


def test_seal_record_links_everything(record: VersionRecord, now: datetime) -> None:
    assert record.canonical == content_bytes(RecordContent(**_fields(now)))
    assert record.leaf_hash == leaf_hash(record.canonical)
    assert record.chain_hash == chain_hash(PREVIOUS, record.leaf_hash)
    assert record.signed_statement() == signature_statement(
        RecordContent(**_fields(now)), record.leaf_hash, record.chain_hash, record.key_id
    )


def test_seal_record_canonicalises_once(
    monkeypatch: pytest.MonkeyPatch, now: datetime, ed25519_signer: LocalSigner
) -> None:
    calls: list[object] = []
    real = canonicalize

    def counting(value: object, **kwargs: Any) -> bytes:
        calls.append(value)
        return real(value, **kwargs)

    monkeypatch.setattr(records, "canonicalize", counting)
    seal_record(RecordContent(**_fields(now)), previous_chain_hash=PREVIOUS, signer=ed25519_signer)
    # Once for the content, once for the small signature statement; nothing else.
    assert len(calls) == 2


def test_seal_record_from_genesis(now: datetime, p256_signer: LocalSigner) -> None:
    first = seal_record(
        RecordContent(
            **{**_fields(now), "seq": 1, "version": 1, "supersedes": None, "reason": None}
        ),
        previous_chain_hash=GENESIS_CHAIN_HASH,
        signer=p256_signer,
    )
    verify_record(
        first,
        previous_chain_hash=GENESIS_CHAIN_HASH,
        trusted_keys={p256_signer.key_id: p256_signer.public_key},
    )
    assert json.loads(first.canonical)["supersedes"] is None


# --- round trips -------------------------------------------------------------------------


def test_version_record_round_trip(record: VersionRecord) -> None:
    data = record.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-ready
    assert data["leaf_hash"] == record.leaf_hash.hex()
    assert data["created_at"] == "2026-11-24T22:24:56.123456Z"
    assert VersionRecord.from_dict(data) == record


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "42"),
        ("seq", True),
        ("seq", -1),
        ("version", None),
        ("tenant_id", 5),
        ("data", []),
        ("created_at", "yesterday"),
        ("reason", 3),
        ("supersedes", "1"),
        ("canonical", "not base64!"),
        ("leaf_hash", "AB" * 32),
        ("leaf_hash", "ab" * 31),
        ("chain_hash", None),
        ("signature", 12),
        ("key_id", None),
    ],
)
def test_version_record_from_dict_rejects(record: VersionRecord, field: str, value: Any) -> None:
    with pytest.raises(InputError) as info:
        VersionRecord.from_dict({**record.to_dict(), field: value})
    assert info.value.path == f"$.{field}"


def test_from_dict_rejects_non_object() -> None:
    for cls in (VersionRecord, Checkpoint, InclusionProof, ConsistencyProof):
        with pytest.raises(InputError):
            cls.from_dict(cast(Any, []))


def test_proof_round_trips() -> None:
    inclusion = InclusionProof(leaf_index=3, tree_size=10, hashes=(sha256(b"a"), sha256(b"b")))
    assert InclusionProof.from_dict(inclusion.to_dict()) == inclusion
    assert inclusion.to_dict()["hashes"][0] == sha256(b"a").hex()
    consistency = ConsistencyProof(first_size=4, second_size=10, hashes=(sha256(b"c"),))
    assert ConsistencyProof.from_dict(consistency.to_dict()) == consistency
    with pytest.raises(InputError) as info:
        InclusionProof.from_dict({**inclusion.to_dict(), "hashes": ["ab", "cd"]})
    assert info.value.path == "$.hashes[0]"
    with pytest.raises(InputError):
        ConsistencyProof.from_dict({**consistency.to_dict(), "hashes": "ab"})
    with pytest.raises(InputError):
        InclusionProof.from_dict({**inclusion.to_dict(), "tree_size": -1})


# --- record verification -----------------------------------------------------------------


def test_sealed_record_verifies(
    record: VersionRecord,
    trusted: dict[str, PublicKey],
    signers: dict[str, LocalSigner],
    now: datetime,
) -> None:
    verify_record(record, previous_chain_hash=PREVIOUS, trusted_keys=trusted)
    checks = record_checks(record, previous_chain_hash=PREVIOUS, trusted_keys=trusted)
    assert [c.name for c in checks] == ["content", "leaf_hash", "chain_hash", "key", "signature"]
    assert all(c.ok for c in checks)
    for signer in signers.values():
        sealed = seal_record(
            RecordContent(**_fields(now)), previous_chain_hash=PREVIOUS, signer=signer
        )
        verify_record(
            sealed,
            previous_chain_hash=PREVIOUS,
            trusted_keys={signer.key_id: signer.public_key},
        )


def _expect_failure(
    record: VersionRecord, trusted: dict[str, PublicKey], check: str, previous: bytes = PREVIOUS
) -> VerificationError:
    results = {
        c.name: c for c in record_checks(record, previous_chain_hash=previous, trusted_keys=trusted)
    }
    assert not results[check].ok
    with pytest.raises(VerificationError) as info:
        verify_record(record, previous_chain_hash=previous, trusted_keys=trusted)
    assert info.value.check == check
    assert info.value.seq == record.seq
    return info.value


def test_content_byte_flip(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    canonical = bytearray(record.canonical)
    index = canonical.index(b"Python")
    canonical[index] = ord("J")
    tampered = dataclasses.replace(record, canonical=bytes(canonical))
    error = _expect_failure(tampered, trusted, "content")
    assert "data" in error.detail
    assert error.expected == {
        "name": "Jython",
        "description": "The language",
        "category": "technical",
    }


def test_content_not_json(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    tampered = dataclasses.replace(record, canonical=record.canonical[:-1])
    error = _expect_failure(tampered, trusted, "content")
    assert "not strict JSON" in error.detail


def test_content_not_canonical(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    # Same JSON value, different bytes: a re-serialisation must not pass as the original.
    pretty = json.dumps(json.loads(record.canonical), indent=1).encode()
    tampered = dataclasses.replace(record, canonical=pretty, leaf_hash=leaf_hash(pretty))
    error = _expect_failure(tampered, trusted, "content")
    assert "canonical form" in error.detail


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("tenant_id", "other"),
        ("seq", 43),
        ("entity_id", "0b6f3a57-2f0e-4f8e-9a4c-3d2b1a0f9e8e"),
        ("version", 3),
        ("entity_type", "Industry"),
        ("status", "retired"),
        ("data", {"name": "Python", "description": "The language", "category": "soft_skill"}),
        ("created_at", datetime(2026, 11, 24, 22, 24, 56, 123457, tzinfo=UTC)),
        ("created_by", "mallory"),
        ("reason", None),
        ("supersedes", None),
        ("supersedes", 0),
    ],
)
def test_column_differs_from_content(
    record: VersionRecord, trusted: dict[str, PublicKey], column: str, value: Any
) -> None:
    tampered = dataclasses.replace(record, **{column: value})
    error = _expect_failure(tampered, trusted, "content")
    assert column in error.detail


def test_data_type_change_is_detected(
    record: VersionRecord,
    trusted: dict[str, PublicKey],
    now: datetime,
    ed25519_signer: LocalSigner,
) -> None:
    # 1 == 1.0 == True in Python; the verifier must still see the difference.
    sealed = seal_record(
        RecordContent(**{**_fields(now), "data": {"n": 1}}),
        previous_chain_hash=PREVIOUS,
        signer=ed25519_signer,
    )
    _expect_failure(dataclasses.replace(sealed, data={"n": True}), trusted, "content")


def test_leaf_hash_tampered(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    tampered = dataclasses.replace(record, leaf_hash=sha256(b"forged"))
    error = _expect_failure(tampered, trusted, "leaf_hash")
    assert error.expected == leaf_hash(record.canonical).hex()
    assert error.found == sha256(b"forged").hex()


def test_chain_hash_tampered(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    tampered = dataclasses.replace(record, chain_hash=sha256(b"forged"))
    error = _expect_failure(tampered, trusted, "chain_hash")
    assert error.expected == record.chain_hash.hex()


def test_wrong_previous_chain_hash(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    _expect_failure(record, trusted, "chain_hash", previous=GENESIS_CHAIN_HASH)
    _expect_failure(record, trusted, "chain_hash", previous=b"short")


def test_untrusted_key(
    record: VersionRecord, trusted: dict[str, PublicKey], p256_signer: LocalSigner, now: datetime
) -> None:
    _expect_failure(record, {}, "key")
    # A DBA who re-signs a record with a key of their own (and puts that key in the
    # database) still fails: only keys passed in trusted_keys count.
    forged = seal_record(
        RecordContent(**_fields(now)), previous_chain_hash=PREVIOUS, signer=p256_signer
    )
    error = _expect_failure(forged, trusted, "key")
    assert error.found == p256_signer.key_id
    checks = record_checks(forged, previous_chain_hash=PREVIOUS, trusted_keys=trusted)
    assert [c.name for c in checks if not c.ok] == ["key", "signature"]


def test_signature_tampered(record: VersionRecord, trusted: dict[str, PublicKey]) -> None:
    signature = bytearray(record.signature)
    signature[0] ^= 0x80
    _expect_failure(dataclasses.replace(record, signature=bytes(signature)), trusted, "signature")


def test_signature_attributed_to_other_trusted_key(
    record: VersionRecord, trusted: dict[str, PublicKey], p256_signer: LocalSigner
) -> None:
    both = {**trusted, p256_signer.key_id: p256_signer.public_key}
    tampered = dataclasses.replace(record, key_id=p256_signer.key_id)
    _expect_failure(tampered, both, "signature")


def test_consistent_forgery_without_key_fails_signature(
    record: VersionRecord, trusted: dict[str, PublicKey], now: datetime
) -> None:
    # A DBA rewrites data, canonical bytes, leaf and chain consistently; only the
    # signature (which they cannot make) gives it away.
    data = {**record.data, "category": "soft_skill"}
    canonical = content_bytes(RecordContent(**{**_fields(now), "data": data}))
    leaf = leaf_hash(canonical)
    forged = dataclasses.replace(
        record,
        data=data,
        canonical=canonical,
        leaf_hash=leaf,
        chain_hash=chain_hash(PREVIOUS, leaf),
    )
    checks = record_checks(forged, previous_chain_hash=PREVIOUS, trusted_keys=trusted)
    assert [c.name for c in checks if not c.ok] == ["signature"]
    _expect_failure(forged, trusted, "signature")


def test_check_result_to_dict() -> None:
    assert CheckResult("leaf_hash", False, "bad").to_dict() == {
        "name": "leaf_hash",
        "ok": False,
        "detail": "bad",
    }


# --- checkpoints ---------------------------------------------------------------------------


@pytest.fixture
def checkpoint(now: datetime, rsa_signer: LocalSigner) -> Checkpoint:
    return sign_checkpoint(
        tenant_id="acme",
        tree_size=42,
        root_hash=sha256(b"root"),
        chain_head=sha256(b"head"),
        created_at=now,
        signer=rsa_signer,
    )


def test_checkpoint_statement(checkpoint: Checkpoint, rsa_signer: LocalSigner) -> None:
    assert json.loads(checkpoint.statement()) == {
        "format": CHECKPOINT_FORMAT,
        "tenant_id": "acme",
        "tree_size": 42,
        "root_hash": sha256(b"root").hex(),
        "chain_head": sha256(b"head").hex(),
        "timestamp": "2026-11-24T22:24:56.123456Z",
        "key_id": rsa_signer.key_id,
    }
    assert checkpoint.key_id == rsa_signer.key_id


def test_checkpoint_verifies_and_round_trips(
    checkpoint: Checkpoint, rsa_signer: LocalSigner
) -> None:
    trusted = {rsa_signer.key_id: rsa_signer.public_key}
    verify_checkpoint(checkpoint, trusted)
    data = checkpoint.to_dict()
    assert data["format"] == CHECKPOINT_FORMAT
    restored = Checkpoint.from_dict(json.loads(json.dumps(data)))
    assert restored == checkpoint
    verify_checkpoint(restored, trusted)
    with pytest.raises(InputError):
        Checkpoint.from_dict({**data, "format": "something/else"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tree_size", 43),
        ("root_hash", sha256(b"other root")),
        ("chain_head", sha256(b"other head")),
        ("tenant_id", "evil"),
        ("created_at", datetime(2027, 1, 1, tzinfo=UTC)),
        ("signature", b"\x00" * 256),
    ],
)
def test_checkpoint_tampered(
    checkpoint: Checkpoint, rsa_signer: LocalSigner, field: str, value: Any
) -> None:
    trusted = {rsa_signer.key_id: rsa_signer.public_key}
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(dataclasses.replace(checkpoint, **{field: value}), trusted)
    assert info.value.check == "checkpoint_signature"


def test_checkpoint_untrusted_key(checkpoint: Checkpoint, ed25519_signer: LocalSigner) -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(checkpoint, {ed25519_signer.key_id: ed25519_signer.public_key})
    assert info.value.check == "checkpoint_key"
    assert info.value.found == checkpoint.key_id


def test_sign_checkpoint_rejects_bad_digests(now: datetime, rsa_signer: LocalSigner) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        sign_checkpoint(
            tenant_id="acme",
            tree_size=1,
            root_hash=b"x",
            chain_head=sha256(b""),
            created_at=now,
            signer=rsa_signer,
        )


def test_sealing_a_batch_equals_sealing_one_by_one(
    ed25519_signer: LocalSigner, now: datetime
) -> None:
    """seal_records signs after chaining; the records are exactly the sequential ones."""
    items = [
        RecordContent(
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
        for seq in range(1, 6)
    ]
    batch = seal_records(items, previous_chain_hash=bytes(32), signer=ed25519_signer)
    previous = bytes(32)
    for item, record in zip(items, batch, strict=True):
        single = seal_record(item, previous_chain_hash=previous, signer=ed25519_signer)
        assert single == record  # Ed25519 signatures are deterministic
        previous = single.chain_hash
