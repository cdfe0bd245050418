"""Streaming re-verification of a tenant's whole log, record by record, in seq order.

The service's audit and the offline auditor feed records to the same ``LogAuditor``: it
checks that seqs are contiguous from 1, verifies each record (content, leaf, chain link,
key, signature), folds the leaves into a Merkle accumulator (O(log n) memory) and, as the
log reaches the size of each signed checkpoint, checks the checkpoint's signature, root
and chain head. ``finish`` reports a log that ends before a checkpoint's size.

Example::

    auditor = LogAuditor(trusted_keys, checkpoints)
    for record in records:          # raises VerificationError at the first bad seq
        auditor.add(record)
    auditor.finish()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.core.checkpoints import Checkpoint
from shared.core.errors import VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH, digests_equal
from shared.core.merkle import MerkleAccumulator
from shared.core.records import VersionRecord
from shared.core.signing import PublicKey
from shared.core.verification import verify_checkpoint, verify_record


class LogAuditor:
    """Re-verifies one tenant's log; every method raises VerificationError with its seq."""

    def __init__(
        self, trusted_keys: Mapping[str, PublicKey], checkpoints: Iterable[Checkpoint] = ()
    ) -> None:
        self._trusted_keys = trusted_keys
        self._checkpoints = {checkpoint.tree_size: checkpoint for checkpoint in checkpoints}
        self._accumulator = MerkleAccumulator()
        self._previous = GENESIS_CHAIN_HASH
        self.checkpoints_checked = 0

    @property
    def records_checked(self) -> int:
        return self._accumulator.size

    def add(self, record: VersionRecord) -> None:
        expected_seq = self.records_checked + 1
        if record.seq != expected_seq:
            raise VerificationError(
                f"seq {expected_seq} is missing from the log (next is {record.seq})",
                check="seq",
                seq=expected_seq,
                expected=expected_seq,
                found=record.seq,
            )
        verify_record(record, previous_chain_hash=self._previous, trusted_keys=self._trusted_keys)
        self._accumulator.append(record.leaf_hash)
        self._previous = record.chain_hash
        checkpoint = self._checkpoints.get(record.seq)
        if checkpoint is not None:
            self._check_checkpoint(checkpoint)

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
            verify_checkpoint(checkpoint, self._trusted_keys)
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
                    f"the log does not match the checkpoint at tree size {checkpoint.tree_size}",
                    check=name,
                    seq=checkpoint.tree_size,
                    expected=signed.hex(),
                    found=computed.hex(),
                )
        self.checkpoints_checked += 1
