"""Offline verification of version records and checkpoints against trusted keys.

``record_checks`` reports every check (for the verify endpoint's response);
``verify_record`` raises on the first failure with the evidence. Only keys passed in
``trusted_keys`` are trusted — a key a DBA inserted into the database is not.

Example::

    checks = record_checks(record, previous_chain_hash=prev, trusted_keys=trusted)
    print([(c.name, c.ok) for c in checks])
    verify_record(record, previous_chain_hash=prev, trusted_keys=trusted)  # or raises
    verify_checkpoint(checkpoint, trusted)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from shared.core.canonical import canonicalize, parse_json
from shared.core.checkpoints import Checkpoint, open_note_checkpoint
from shared.core.errors import CanonicalizationError, InputError, VerificationError
from shared.core.hashing import HASH_SIZE, chain_hash, digests_equal, leaf_hash
from shared.core.records import VersionRecord, content_bytes
from shared.core.signing import PublicKey


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """A check result plus the evidence ``verify_record`` puts into its error."""

    result: CheckResult
    expected: object = None
    found: object = None


def _ok(name: str, detail: str) -> _Outcome:
    return _Outcome(CheckResult(name, True, detail))


def _fail(name: str, detail: str, expected: object = None, found: object = None) -> _Outcome:
    return _Outcome(CheckResult(name, False, detail), expected, found)


def _check_content(record: VersionRecord) -> _Outcome:
    name = "content"
    try:
        expected = content_bytes(record)
    except InputError as exc:
        return _fail(name, f"record columns cannot be canonicalised: {exc.detail}")
    # One comparison proves both properties: the expected bytes are canonical by
    # construction, so equality means the stored bytes are canonical and say exactly
    # what the columns say. The slower diagnosis below runs only on failure.
    if record.canonical == expected:
        return _ok(name, "canonical bytes match every column")
    try:
        stored = parse_json(record.canonical)
    except CanonicalizationError as exc:
        return _fail(name, f"stored bytes are not strict JSON: {exc.detail}")
    if canonicalize(stored) != record.canonical:
        return _fail(name, "stored bytes are not in RFC 8785 canonical form")
    wanted = parse_json(expected)
    if not isinstance(stored, dict) or not isinstance(wanted, dict):
        return _fail(name, "stored bytes are not a JSON object")
    differing = sorted(k for k in wanted.keys() | stored.keys() if stored.get(k) != wanted.get(k))
    # JSON equality in Python treats 1 == 1.0 == True; the byte comparison above already
    # failed, so if no field differs by value the difference is in type or form.
    fields = ", ".join(differing) if differing else "value types"
    first = differing[0] if differing else None
    return _fail(
        name,
        f"record columns differ from the signed content: {fields}",
        expected=stored.get(first) if first else None,
        found=wanted.get(first) if first else None,
    )


def _check_leaf(record: VersionRecord) -> _Outcome:
    computed = leaf_hash(record.canonical)
    if digests_equal(computed, record.leaf_hash):
        return _ok("leaf_hash", "leaf hash matches the canonical bytes")
    return _fail(
        "leaf_hash",
        "leaf hash does not match the canonical bytes",
        expected=computed.hex(),
        found=record.leaf_hash.hex(),
    )


def _check_chain(record: VersionRecord, previous: bytes) -> _Outcome:
    if len(previous) != HASH_SIZE or len(record.leaf_hash) != HASH_SIZE:
        return _fail(
            "chain_hash",
            "previous chain hash and leaf hash must be 32 bytes",
            found=record.chain_hash.hex(),
        )
    computed = chain_hash(previous, record.leaf_hash)
    if digests_equal(computed, record.chain_hash):
        return _ok("chain_hash", "chain hash links to the previous record")
    return _fail(
        "chain_hash",
        "chain hash does not follow from the previous chain hash and this leaf",
        expected=computed.hex(),
        found=record.chain_hash.hex(),
    )


def _check_key(record: VersionRecord, trusted_keys: Mapping[str, PublicKey]) -> _Outcome:
    if record.key_id in trusted_keys:
        return _ok("key", f"signed by trusted key {record.key_id}")
    return _fail(
        "key",
        f"key {record.key_id} is not a trusted signing key",
        expected=sorted(trusted_keys),
        found=record.key_id,
    )


def _check_signature(record: VersionRecord, trusted_keys: Mapping[str, PublicKey]) -> _Outcome:
    key = trusted_keys.get(record.key_id)
    if key is None:
        return _fail("signature", "not checked: the signing key is not trusted")
    try:
        statement = record.signed_statement()
        key.verify(statement, record.signature)
    except (VerificationError, InputError, ValueError) as exc:
        return _fail(
            "signature",
            f"signature does not verify with key {record.key_id}: {exc}",
            found=record.signature.hex(),
        )
    return _ok("signature", f"signature verifies with key {record.key_id}")


def _outcomes(
    record: VersionRecord, previous_chain_hash: bytes, trusted_keys: Mapping[str, PublicKey]
) -> list[_Outcome]:
    return [
        _check_content(record),
        _check_leaf(record),
        _check_chain(record, previous_chain_hash),
        _check_key(record, trusted_keys),
        _check_signature(record, trusted_keys),
    ]


def record_checks(
    record: VersionRecord,
    *,
    previous_chain_hash: bytes,
    trusted_keys: Mapping[str, PublicKey],
) -> list[CheckResult]:
    """Every check, in order: content, leaf_hash, chain_hash, key, signature."""
    return [o.result for o in _outcomes(record, previous_chain_hash, trusted_keys)]


def _raise_first_failure(record: VersionRecord, outcomes: Iterable[_Outcome]) -> None:
    for outcome in outcomes:
        if not outcome.result.ok:
            raise VerificationError(
                f"record seq {record.seq}: {outcome.result.detail}",
                check=outcome.result.name,
                seq=record.seq,
                expected=outcome.expected,
                found=outcome.found,
            )


def verify_record(
    record: VersionRecord,
    *,
    previous_chain_hash: bytes,
    trusted_keys: Mapping[str, PublicKey],
) -> None:
    """Raise VerificationError for the first failing check, naming it and the seq."""
    _raise_first_failure(record, _outcomes(record, previous_chain_hash, trusted_keys))


def verify_content(record: VersionRecord) -> None:
    """Raise unless the record's columns say exactly what its canonical bytes say."""
    _raise_first_failure(record, [_check_content(record)])


def verify_record_signature(record: VersionRecord, trusted_keys: Mapping[str, PublicKey]) -> None:
    """Raise unless the record is signed by a trusted key over its own statement."""
    _raise_first_failure(
        record, [_check_key(record, trusted_keys), _check_signature(record, trusted_keys)]
    )


def verify_checkpoint(
    checkpoint: Checkpoint,
    trusted_keys: Mapping[str, PublicKey],
    *,
    note_keys: Mapping[str, PublicKey] | None = None,
) -> None:
    """Raise unless the checkpoint is signed by a trusted key.

    A note checkpoint must be the tenant's log, and its note must verify with the key and
    state the checkpoint's size, root and time (``open_note_checkpoint``); a pre-note JSON
    checkpoint must carry a valid signature over its statement.

    With ``note_keys`` (the log's checkpoint keys) the two kinds of key stay apart: a note
    must be signed by a checkpoint key, a pre-note statement by a record key
    (``trusted_keys``), so neither key can stand in for the other.
    """
    keys = trusted_keys if note_keys is None or checkpoint.note is None else note_keys
    key = keys.get(checkpoint.key_id)
    if key is None:
        raise VerificationError(
            f"checkpoint key {checkpoint.key_id} is not a trusted "
            f"{'checkpoint' if keys is note_keys else 'signing'} key",
            check="checkpoint_key",
            expected=sorted(keys),
            found=checkpoint.key_id,
        )
    if checkpoint.note is not None:
        try:
            open_note_checkpoint(checkpoint, key)
        except VerificationError as exc:
            raise VerificationError(
                f"checkpoint for tree size {checkpoint.tree_size}: {exc.detail}",
                check="checkpoint_signature",
                expected=exc.expected,
                found=exc.found,
            ) from exc
        return
    try:
        key.verify(checkpoint.statement(), checkpoint.signature)
    except VerificationError as exc:
        raise VerificationError(
            f"checkpoint for tree size {checkpoint.tree_size} has an invalid signature",
            check="checkpoint_signature",
            found=checkpoint.signature.hex(),
        ) from exc
