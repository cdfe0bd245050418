"""Streaming re-verification of a tenant's whole log, record by record, in seq order.

The service's audit and the offline auditors feed the same ``LogAuditor``. For every
record it checks that seqs are contiguous from 1, that the record's columns say exactly
what its canonical bytes say (content), that the stored leaf hash is the hash of those
bytes and the stored chain hash links to the previous one; it folds the recomputed leaves
into a Merkle accumulator (O(log n) memory) and, as the log reaches the size of each
signed checkpoint, checks the checkpoint's signature, root and chain head. ``finish``
reports a log that ends before a checkpoint's size.

Two modes decide which per-record signatures are verified (docs/performance.md):

- ``roots`` (fast): a signed checkpoint's root is a signature over every leaf hash up
  to its size, and each leaf is recomputed here from the record's canonical bytes, so a
  matching root proves every byte of every covered record is what the service signed.
  Per-record Ed25519 signatures are verified only for the records after the last
  checkpoint, which no root covers. Not proven: that a covered record's own stored
  signature column is still intact (it is redundant evidence for the same bytes; a
  record's verify answer checks it, and so does the ``signatures`` mode).
- ``signatures``: everything above, and every record's signature as well. It costs one
  Ed25519 verification per record, so the service runs it in worker processes.

A mismatch the roots mode finds at a checkpoint names the checkpoint's size and the
range of seqs it covers; the ``signatures`` mode names the first bad record itself.

Example::

    auditor = LogAuditor(trusted_keys, checkpoints, mode=AuditMode.ROOTS)
    for entry in entries:           # raises VerificationError at the first bad seq
        auditor.add_entry(entry)
    auditor.finish()
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from shared.core import wire
from shared.core.checkpoints import Checkpoint
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import CHAIN_DOMAIN, GENESIS_CHAIN_HASH, LEAF_PREFIX, digests_equal
from shared.core.merkle import MerkleAccumulator
from shared.core.records import (
    CONTENT_FIELDS,
    RECORD_FORMAT,
    RecordContent,
    Seal,
    VersionRecord,
)
from shared.core.signing import PublicKey
from shared.core.verification import verify_checkpoint, verify_content, verify_record_signature


class AuditMode(enum.StrEnum):
    """Which per-record signatures an audit verifies (see the module docstring)."""

    ROOTS = "roots"
    SIGNATURES = "signatures"


class LogEntry(NamedTuple):
    """One stored record as the audit reads it: its columns as JSON values, its seal.

    ``content`` maps every content field to its JSON value (``created_at`` as its
    canonical string), exactly as the columns hold it; nothing here is trusted.
    """

    seq: int
    content: Mapping[str, Any]
    canonical: bytes
    leaf_hash: bytes
    chain_hash: bytes
    signature: bytes
    key_id: str

    @classmethod
    def of(cls, record: VersionRecord) -> LogEntry:
        return cls(
            record.seq,
            record.content_json(),
            record.canonical,
            record.leaf_hash,
            record.chain_hash,
            record.signature,
            record.key_id,
        )

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> LogEntry:
        """An entry from a record's JSON (``GET /log``); InputError if a seal field or
        the seq is malformed (content fields are left to the content check)."""
        item = wire.mapping(item)
        missing = [name for name in CONTENT_FIELDS if name not in item]
        if missing:
            raise InputError(f"{missing[0]} is required", path=f"$.{missing[0]}")
        return cls(
            wire.nonneg_int(item, "seq"),
            {name: item[name] for name in CONTENT_FIELDS},
            wire.b64decode(item.get("canonical"), "$.canonical"),
            wire.hex_digest(item.get("leaf_hash"), "$.leaf_hash"),
            wire.hex_digest(item.get("chain_hash"), "$.chain_hash"),
            wire.b64decode(item.get("signature"), "$.signature"),
            wire.field(item, "key_id", str),
        )

    def record(self) -> VersionRecord:
        """The entry as a record; InputError if a column is not a valid field value."""
        return VersionRecord.of(
            RecordContent.content_from_json(self.content),
            Seal(self.canonical, self.leaf_hash, self.chain_hash, self.signature, self.key_id),
        )


# One encoder for every record: json.dumps with options builds a new one per call.
_SORTED_COMPACT = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _fast_content_matches(entry: LogEntry) -> bool:
    """True only if the columns' canonical bytes are certainly ``entry.canonical``.

    ``json.dumps`` with sorted keys and no spaces writes the same bytes as RFC 8785 for
    strings, safe integers, null, booleans, lists and objects whose keys sort alike in
    UTF-16 and in code points. When its bytes equal the stored bytes, parsing either
    gives the same typed value, so the canonical form of the columns is the stored
    bytes. When they differ (a float, an unusual key, or a real difference) the caller
    decides with the exact RFC 8785 check.
    """
    try:
        written = _SORTED_COMPACT.encode({"format": RECORD_FORMAT, **entry.content}).encode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return written == entry.canonical


def _record_of(entry: LogEntry, check: str) -> VersionRecord:
    try:
        return entry.record()
    except InputError as exc:
        raise VerificationError(
            f"record seq {entry.seq}: a column is not a valid field value: {exc.detail}",
            check=check,
            seq=entry.seq,
        ) from exc


def verify_entry_content(entry: LogEntry) -> None:
    """Raise unless the entry's columns say exactly what its canonical bytes say."""
    if not _fast_content_matches(entry):
        verify_content(_record_of(entry, "content"))


def verify_entry_signature(entry: LogEntry, trusted_keys: Mapping[str, PublicKey]) -> None:
    """Raise unless the entry's signature verifies with a trusted key."""
    verify_record_signature(_record_of(entry, "signature"), trusted_keys)


def first_bad_signature(
    entries: Sequence[LogEntry], trusted_keys: Mapping[str, PublicKey]
) -> VerificationError | None:
    """The failure of the first entry whose signature does not verify, if any."""
    for entry in entries:
        try:
            verify_entry_signature(entry, trusted_keys)
        except VerificationError as exc:
            return exc
    return None


class LogAuditor:
    """Re-verifies one tenant's log; every method raises VerificationError with its seq.

    With ``verify_signatures`` false the caller verifies every record's signature itself
    (the service does, in worker processes); the auditor then checks none. It may be
    turned off before the first record only.
    """

    def __init__(
        self,
        trusted_keys: Mapping[str, PublicKey],
        checkpoints: Iterable[Checkpoint] = (),
        *,
        mode: AuditMode = AuditMode.SIGNATURES,
        verify_signatures: bool = True,
        checkpoint_keys: Mapping[str, PublicKey] | None = None,
    ) -> None:
        self._trusted_keys = trusted_keys
        self._checkpoint_keys = checkpoint_keys
        self._checkpoints = {checkpoint.tree_size: checkpoint for checkpoint in checkpoints}
        self.mode = mode
        # Records after this seq are covered by no signed root: their own signatures are
        # the only evidence, so even the roots mode verifies them.
        self._covered = 0 if mode is AuditMode.SIGNATURES else max(self._checkpoints, default=0)
        self.verify_signatures = verify_signatures
        self._accumulator = MerkleAccumulator()
        self._previous = GENESIS_CHAIN_HASH
        self._last_checkpoint = 0
        self.checkpoints_checked = 0
        self.signatures_checked = 0

    @property
    def records_checked(self) -> int:
        return self._accumulator.size

    def add(self, record: VersionRecord) -> None:
        self.add_entry(LogEntry.of(record))

    def add_entry(self, entry: LogEntry) -> bytes:
        """Check one entry; its leaf hash, recomputed from its canonical bytes."""
        seq = entry.seq
        expected_seq = self._accumulator.size + 1
        if seq != expected_seq:
            raise VerificationError(
                f"seq {expected_seq} is missing from the log (next is {seq})",
                check="seq",
                seq=expected_seq,
                expected=expected_seq,
                found=seq,
            )
        if entry.content.get("seq") != seq or not _fast_content_matches(entry):
            verify_content(_record_of(entry, "content"))
        leaf = hashlib.sha256(LEAF_PREFIX + entry.canonical).digest()
        # Plain comparisons: an audit compares public digests, there is no secret to time.
        if leaf != entry.leaf_hash:
            raise VerificationError(
                f"record seq {seq}: leaf hash does not match the canonical bytes",
                check="leaf_hash",
                seq=seq,
                expected=leaf.hex(),
                found=entry.leaf_hash.hex(),
            )
        chain = hashlib.sha256(CHAIN_DOMAIN + self._previous + leaf).digest()
        if chain != entry.chain_hash:
            raise VerificationError(
                f"record seq {seq}: chain hash does not follow from the previous chain "
                "hash and this leaf",
                check="chain_hash",
                seq=seq,
                expected=chain.hex(),
                found=entry.chain_hash.hex(),
            )
        if entry.key_id not in self._trusted_keys:
            raise VerificationError(
                f"record seq {seq}: key {entry.key_id} is not a trusted signing key",
                check="key",
                seq=seq,
                expected=sorted(self._trusted_keys),
                found=entry.key_id,
            )
        if self.verify_signatures and seq > self._covered:
            verify_entry_signature(entry, self._trusted_keys)
            self.signatures_checked += 1
        self._accumulator.append(leaf)
        self._previous = chain
        checkpoint = self._checkpoints.get(seq)
        if checkpoint is not None:
            self._check_checkpoint(checkpoint)
        return leaf

    def finish(self) -> None:
        beyond = [size for size in self._checkpoints if size > self.records_checked]
        if beyond:
            raise VerificationError(
                f"a checkpoint was signed at tree size {max(beyond)} but the log ends at seq "
                f"{self.records_checked}: records were removed",
                check="truncation",
                seq=self.records_checked + 1,
                expected=max(beyond),
                found=self.records_checked,
            )

    def _check_checkpoint(self, checkpoint: Checkpoint) -> None:
        try:
            verify_checkpoint(checkpoint, self._trusted_keys, note_keys=self._checkpoint_keys)
        except VerificationError as exc:
            raise VerificationError(
                exc.detail, check=exc.check, seq=checkpoint.tree_size, found=exc.found
            ) from exc
        for name, signed, computed in (
            ("checkpoint_root", checkpoint.root_hash, self._accumulator.root()),
            ("checkpoint_chain_head", checkpoint.chain_head, self._previous),
        ):
            if not digests_equal(signed, computed):
                raise VerificationError(
                    f"the log does not match the checkpoint at tree size {checkpoint.tree_size}"
                    f": a record in seqs {self._last_checkpoint + 1}..{checkpoint.tree_size} "
                    "is not the one the service signed",
                    check=name,
                    seq=checkpoint.tree_size,
                    expected=signed.hex(),
                    found=computed.hex(),
                )
        self._last_checkpoint = checkpoint.tree_size
        self.checkpoints_checked += 1
