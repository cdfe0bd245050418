"""Evidence: signed checkpoints, record verification and consistency proofs.

The audit of a whole log is in ``shared.audit``.

Checkpoints are signed lazily: when a proof is asked for and the log has grown past the
latest checkpoint, a new one is signed over the current head, but only after the stored
chain and the previous checkpoint have been re-checked, so the service never signs over a
history that was edited underneath it.

Example::

    evidence = Evidence(repository, signer, trusted_keys, publisher, clock=utc_now)
    report = evidence.verify(principal, entity_id)
    print(report.valid, [c.name for c in report.checks if not c.ok])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.core import merkle
from shared.core.checkpoints import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    sign_checkpoint,
)
from shared.core.errors import InputError, NotFoundError, VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH, chain_hash, digests_equal, leaf_hash
from shared.core.merkle import MerkleAccumulator
from shared.core.principal import SCOPE_READ, Principal
from shared.core.records import VersionRecord
from shared.core.signing import PublicKey, Signer
from shared.core.tiles import TiledTree, TileReader
from shared.core.verification import CheckResult, record_checks, verify_checkpoint
from shared.publisher import CheckpointPublisher
from shared.repository import Leaves, Repository, TenantTransaction
from shared.repository_tiles import TileStore


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """One record's checks, with the inclusion proof and the checkpoint it is proven in."""

    record: VersionRecord
    # The chain hash of seq - 1 as stored, so an auditor can re-check the link offline.
    previous_chain_hash: bytes | None
    checks: tuple[CheckResult, ...]
    inclusion_proof: InclusionProof | None
    checkpoint: Checkpoint | None

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "record": self.record.to_dict(),
            "previous_chain_hash": (
                self.previous_chain_hash.hex() if self.previous_chain_hash is not None else None
            ),
            "checks": [check.to_dict() for check in self.checks],
            "inclusion_proof": self.inclusion_proof.to_dict() if self.inclusion_proof else None,
            "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
        }


@dataclasses.dataclass(frozen=True)
class ConsistencyReport:
    """Proof that the tree of ``second_size`` extends the tree of ``first_size``.

    ``checks`` say whether the stored checkpoints at either size are genuine and still
    match the log, and whether the proof verifies between the two roots.
    """

    proof: ConsistencyProof
    first_root: bytes
    second_root: bytes
    first_checkpoint: Checkpoint | None
    second_checkpoint: Checkpoint | None
    checks: tuple[CheckResult, ...]

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "first_size": self.proof.first_size,
            "second_size": self.proof.second_size,
            "first_root": self.first_root.hex(),
            "second_root": self.second_root.hex(),
            "proof": self.proof.to_dict(),
            "first_checkpoint": self.first_checkpoint.to_dict() if self.first_checkpoint else None,
            "second_checkpoint": (
                self.second_checkpoint.to_dict() if self.second_checkpoint else None
            ),
            "checks": [check.to_dict() for check in self.checks],
        }


def _check_leaves(
    leaves: Leaves, *, upto: int, after: int = 0, previous_chain: bytes = GENESIS_CHAIN_HASH
) -> None:
    """Raise unless ``leaves`` are seqs after+1..upto, each chain link intact from
    ``previous_chain`` (the chain hash at seq ``after``)."""
    expected = upto - after
    if leaves.first_missing_seq is not None or len(leaves.leaf_hashes) != expected:
        missing = leaves.first_missing_seq or after + len(leaves.leaf_hashes) + 1
        raise VerificationError(
            f"seq {missing} is missing from the log",
            check="seq",
            seq=missing,
            expected=upto,
            found=after + len(leaves.leaf_hashes),
        )
    previous = previous_chain
    for seq, (leaf, chain) in enumerate(
        zip(leaves.leaf_hashes, leaves.chain_hashes, strict=True), start=after + 1
    ):
        computed = chain_hash(previous, leaf)
        if not digests_equal(computed, chain):
            raise VerificationError(
                f"record seq {seq}: chain hash does not link to seq {seq - 1}",
                check="chain_hash",
                seq=seq,
                expected=computed.hex(),
                found=chain.hex(),
            )
        previous = chain


def _inclusion(
    record: VersionRecord, checkpoint: Checkpoint, tiles: TileReader
) -> tuple[InclusionProof | None, CheckResult]:
    """The record's inclusion proof in ``checkpoint``, read from O(log n) tiles.

    The tiles are not trusted: the proof must lead from the record's own leaf hash
    (recomputed from its canonical bytes) to the checkpoint's signed root.
    """
    if record.seq > checkpoint.tree_size:
        return None, CheckResult(
            "inclusion", False, f"seq {record.seq} is beyond checkpoint size {checkpoint.tree_size}"
        )
    index = record.seq - 1
    try:
        hashes = TiledTree(checkpoint.tree_size, tiles).inclusion_proof(index)
    except VerificationError as exc:
        return None, CheckResult("inclusion", False, exc.detail)
    proof = InclusionProof(index, checkpoint.tree_size, tuple(hashes))
    try:
        merkle.verify_inclusion(
            index=index,
            tree_size=checkpoint.tree_size,
            leaf_hash=leaf_hash(record.canonical),
            proof=proof.hashes,
            root=checkpoint.root_hash,
        )
    except VerificationError as exc:
        return proof, CheckResult("inclusion", False, exc.detail)
    return proof, CheckResult(
        "inclusion", True, f"included at index {index} of the tree of size {checkpoint.tree_size}"
    )


class Evidence:
    """Checkpoints, proofs and verification for one registry."""

    def __init__(
        self,
        repository: Repository,
        signer: Signer,
        trusted_keys: Mapping[str, PublicKey],
        publisher: CheckpointPublisher,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._signer = signer
        self._trusted_keys = trusted_keys
        self._publisher = publisher
        self._clock = clock

    # --- checkpoints -----------------------------------------------------------------

    def latest_checkpoint(self, principal: Principal) -> Checkpoint:
        principal.require(SCOPE_READ)
        return self.checkpoint(principal.tenant_id)

    def checkpoint(self, tenant_id: str) -> Checkpoint:
        """The latest checkpoint, first signing one over the head if the log grew past it.

        Incremental: the previous checkpoint's stored frontier (trusted only once it
        reproduces the signed root) plus the new leaves give the new root, so signing
        reads and hashes only what was appended since.
        """
        # One transaction reads what the new checkpoint needs and stores it.
        with self._repository.tenant_transaction(tenant_id) as tx:
            latest = tx.latest_checkpoint()
            head = tx.head()
            after = latest.tree_size if latest is not None else 0
            if head.seq <= after:
                if latest is None:
                    raise NotFoundError("this tenant's log is empty; there is no checkpoint yet")
                return latest
            accumulator = self._resume(latest, tx.frontier_at(after) if latest else b"")
            new = tx.leaves(head.seq, after=after)
            _check_leaves(
                new,
                upto=head.seq,
                after=after,
                previous_chain=latest.chain_head if latest is not None else GENESIS_CHAIN_HASH,
            )
            for leaf in new.leaf_hashes:
                accumulator.append(leaf)
            checkpoint = self._store(tx, tenant_id, accumulator, new.chain_hashes[-1])
        self._publisher.publish(checkpoint)
        return checkpoint

    def _resume(self, latest: Checkpoint | None, frontier: bytes | None) -> MerkleAccumulator:
        if latest is None:
            return MerkleAccumulator()
        verify_checkpoint(latest, self._trusted_keys)
        try:
            accumulator = MerkleAccumulator.from_frontier(latest.tree_size, frontier or b"")
        except ValueError as exc:
            raise VerificationError(
                f"the stored frontier of the checkpoint at tree size {latest.tree_size} is "
                f"malformed: {exc}",
                check="checkpoint_frontier",
                seq=latest.tree_size,
            ) from exc
        if not digests_equal(accumulator.root(), latest.root_hash):
            raise VerificationError(
                f"the stored frontier of the checkpoint at tree size {latest.tree_size} does "
                "not reproduce its signed root",
                check="checkpoint_frontier",
                seq=latest.tree_size,
                expected=latest.root_hash.hex(),
                found=accumulator.root().hex(),
            )
        return accumulator

    def _store(
        self,
        tx: TenantTransaction,
        tenant_id: str,
        accumulator: MerkleAccumulator,
        chain_head: bytes,
    ) -> Checkpoint:
        """Sign the accumulator's tree and store it, or return the one stored first."""
        checkpoint = sign_checkpoint(
            tenant_id=tenant_id,
            tree_size=accumulator.size,
            root_hash=accumulator.root(),
            chain_head=chain_head,
            created_at=self._clock().astimezone(UTC),
            signer=self._signer,
        )
        if tx.insert_checkpoint(checkpoint, accumulator.frontier):
            return checkpoint
        # Another process signed this size first; theirs is the one on record.
        stored = tx.checkpoint_at(checkpoint.tree_size)
        assert stored is not None
        return stored

    # --- verification ----------------------------------------------------------------

    def verify(
        self, principal: Principal, entity_id: str, version: int | None = None
    ) -> VerificationReport:
        principal.require(SCOPE_READ)
        tenant_id = principal.tenant_id
        with self._repository.tenant_transaction(tenant_id) as tx:
            record = tx.current(entity_id) if version is None else tx.version(entity_id, version)
            if record is None:
                raise NotFoundError(
                    f"no entity {entity_id}" + (f" version {version}" if version else "")
                )
            previous = tx.chain_hash_at(record.seq - 1)
        checks = list(
            record_checks(
                record,
                previous_chain_hash=previous if previous is not None else GENESIS_CHAIN_HASH,
                trusted_keys=self._trusted_keys,
            )
        )
        if previous is None:
            checks.append(
                CheckResult("predecessor", False, f"seq {record.seq - 1} is missing from the log")
            )
        try:
            checkpoint = self.checkpoint(tenant_id)
            verify_checkpoint(checkpoint, self._trusted_keys)
        except VerificationError as exc:
            checks.append(CheckResult("checkpoint", False, exc.detail))
            return VerificationReport(record, previous, tuple(checks), None, None)
        checks.append(
            CheckResult(
                "checkpoint",
                True,
                f"checkpoint at tree size {checkpoint.tree_size} is signed by {checkpoint.key_id}",
            )
        )
        # The log is append-only, so the tiles of the checkpoint's tree read in a later
        # transaction are the same; and the proof is checked against its signed root.
        with self._repository.tenant_transaction(tenant_id) as tx:
            proof, inclusion = _inclusion(record, checkpoint, TileStore(tx))
        checks.append(inclusion)
        return VerificationReport(record, previous, tuple(checks), proof, checkpoint)

    def consistency(self, principal: Principal, first: int, second: int) -> ConsistencyReport:
        principal.require(SCOPE_READ)
        if not 1 <= first <= second:
            raise InputError("need 1 <= first <= second", path="first")
        with self._repository.tenant_transaction(principal.tenant_id) as tx:
            head = tx.head()
            if second > head.seq:
                raise NotFoundError(f"the log has {head.seq} records; no tree of size {second}")
            first_checkpoint = tx.checkpoint_at(first)
            second_checkpoint = tx.checkpoint_at(second)
            # The proof and both roots from the tiles of the second tree, in one read of
            # O(log n) tiles; the checks below hold them against the signed checkpoints.
            *hashes, first_root, second_root = TiledTree(second, TileStore(tx)).range_hashes(
                [*merkle.consistency_ranges(first, second), (0, first), (0, second)]
            )
        proof = ConsistencyProof(first, second, tuple(hashes))
        checks = [
            self._checkpoint_matches(checkpoint, computed)
            for checkpoint, computed in (
                (first_checkpoint, first_root),
                (second_checkpoint, second_root),
            )
            if checkpoint is not None
        ]
        try:
            merkle.verify_consistency(
                first_size=first,
                second_size=second,
                first_root=first_root,
                second_root=second_root,
                proof=proof.hashes,
            )
            checks.append(CheckResult("consistency", True, f"tree {second} extends tree {first}"))
        except VerificationError as exc:
            checks.append(CheckResult("consistency", False, exc.detail))
        return ConsistencyReport(
            proof, first_root, second_root, first_checkpoint, second_checkpoint, tuple(checks)
        )

    def _checkpoint_matches(self, checkpoint: Checkpoint, computed_root: bytes) -> CheckResult:
        """A stored checkpoint is genuine and its root is the root of the log as it is now."""
        name = f"checkpoint_{checkpoint.tree_size}"
        try:
            verify_checkpoint(checkpoint, self._trusted_keys)
        except VerificationError as exc:
            return CheckResult(name, False, exc.detail)
        if not digests_equal(checkpoint.root_hash, computed_root):
            return CheckResult(
                name,
                False,
                f"the log no longer matches the checkpoint at tree size {checkpoint.tree_size}: "
                f"signed root {checkpoint.root_hash.hex()}, log root {computed_root.hex()}",
            )
        return CheckResult(
            name, True, f"signed checkpoint at tree size {checkpoint.tree_size} matches"
        )
