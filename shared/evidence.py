"""Evidence: record verification and consistency proofs — reads only.

The audit of a whole log is in ``shared.audit``.

Nothing here signs. Proofs are against the newest checkpoint already signed (by
``shared.checkpointer``, after writes, on ``POST /verify/checkpoint`` or on a timer), so a
proof may be against a tree older than the log; the response says so. See
docs/adr/0008-checkpoint-signing.md.

Example::

    evidence = Evidence(repository, trusted_keys)
    report = evidence.verify(principal, entity_id)
    print(report.valid, [c.name for c in report.checks if not c.ok])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.core import merkle
from shared.core.checkpoints import Checkpoint, ConsistencyProof, InclusionProof
from shared.core.errors import InputError, NotFoundError, VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH, leaf_hash
from shared.core.principal import SCOPE_READ, Principal
from shared.core.records import VersionRecord
from shared.core.reports import check_consistency
from shared.core.signing import PublicKey
from shared.core.tiles import TiledTree, TileReader
from shared.core.verification import CheckResult, record_checks, verify_checkpoint
from shared.integrity import RecordGuard
from shared.repository import Repository, TenantTransaction
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
    """The RFC 9162 proof that the signed tree of ``second_size`` extends the signed tree
    of ``first_size``, with both signed checkpoints.

    The roots are the signed checkpoints' own; only the proof hashes come from the
    stored tiles, and ``checks`` say whether they lead from one signed root to the other.
    """

    proof: ConsistencyProof
    first_checkpoint: Checkpoint
    second_checkpoint: Checkpoint
    checks: tuple[CheckResult, ...]

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "first_size": self.proof.first_size,
            "second_size": self.proof.second_size,
            "first_root": self.first_checkpoint.root_hash.hex(),
            "second_root": self.second_checkpoint.root_hash.hex(),
            "proof": self.proof.to_dict(),
            "first_checkpoint": self.first_checkpoint.to_dict(),
            "second_checkpoint": self.second_checkpoint.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
        }


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
    """Proofs and verification for one registry, against signed checkpoints."""

    def __init__(
        self,
        repository: Repository,
        trusted_keys: Mapping[str, PublicKey],
        *,
        checkpoint_keys: Mapping[str, PublicKey] | None = None,
    ) -> None:
        self._repository = repository
        self._trusted_keys = trusted_keys
        self._checkpoint_keys = checkpoint_keys

    # --- checkpoints -----------------------------------------------------------------

    def latest_checkpoint(self, principal: Principal) -> Checkpoint:
        """The newest signed checkpoint, verified; NotFoundError before the first."""
        principal.require(SCOPE_READ)
        with self._repository.tenant_transaction(principal.tenant_id) as tx:
            checkpoint = tx.latest_checkpoint()
        if checkpoint is None:
            raise NotFoundError(
                "no checkpoint has been signed for this tenant yet; one is signed after "
                "CHECKPOINT_EVERY records or CHECKPOINT_MAX_AGE seconds, or by "
                "POST /verify/checkpoint (admin)"
            )
        return self._genuine(checkpoint)

    def _genuine(self, checkpoint: Checkpoint) -> Checkpoint:
        try:
            verify_checkpoint(checkpoint, self._trusted_keys, note_keys=self._checkpoint_keys)
        except VerificationError as exc:
            raise RecordGuard.violation(
                f"the stored checkpoint of tree size {checkpoint.tree_size} does not "
                f"verify: {exc.detail}",
                check="checkpoint",
                seq=checkpoint.tree_size,
                use="a read",
            ) from exc
        return checkpoint

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
            checkpoint = tx.latest_checkpoint()
            log_size = tx.head().seq
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
        if checkpoint is None:
            checks.append(
                CheckResult(
                    "checkpoint",
                    False,
                    "no checkpoint has been signed for this tenant yet (POST "
                    "/verify/checkpoint signs one)",
                )
            )
            return VerificationReport(record, previous, tuple(checks), None, None)
        try:
            verify_checkpoint(checkpoint, self._trusted_keys, note_keys=self._checkpoint_keys)
        except VerificationError as exc:
            checks.append(CheckResult("checkpoint", False, exc.detail))
            return VerificationReport(record, previous, tuple(checks), None, None)
        behind = log_size - checkpoint.tree_size
        checks.append(
            CheckResult(
                "checkpoint",
                True,
                f"checkpoint at tree size {checkpoint.tree_size} is signed by {checkpoint.key_id}"
                + (
                    f"; it is the newest signed one, and the {behind} record(s) after it "
                    "await the next checkpoint"
                    if behind > 0
                    else ""
                ),
            )
        )
        # The log is append-only, so the tiles of the checkpoint's tree read in a later
        # transaction are the same; and the proof is checked against its signed root.
        with self._repository.tenant_transaction(tenant_id) as tx:
            proof, inclusion = _inclusion(record, checkpoint, TileStore(tx))
        checks.append(inclusion)
        return VerificationReport(record, previous, tuple(checks), proof, checkpoint)

    def consistency(self, principal: Principal, first: int, second: int) -> ConsistencyReport:
        """The proof between the signed checkpoints of sizes ``first`` and ``second``.

        Both must be signed checkpoints (NotFoundError otherwise); nothing is compared
        with roots recomputed from today's rows. The proof hashes are read from O(log n)
        stored tiles and checked by ``check_consistency``, the auditors' own checker.
        """
        principal.require(SCOPE_READ)
        if not 1 <= first <= second:
            raise InputError("need 1 <= first <= second", path="first")
        with self._repository.tenant_transaction(principal.tenant_id) as tx:
            first_checkpoint = self._signed_at(tx, first)
            second_checkpoint = self._signed_at(tx, second)
            try:
                hashes = TiledTree(second, TileStore(tx)).range_hashes(
                    merkle.consistency_ranges(first, second)
                )
                error = None
            except VerificationError as exc:
                hashes, error = [], exc
        proof = ConsistencyProof(first, second, tuple(hashes))
        if error is None:
            try:
                check_consistency(
                    first_checkpoint,
                    second_checkpoint,
                    proof.hashes,
                    self._trusted_keys,
                    note_keys=self._checkpoint_keys,
                )
            except VerificationError as exc:
                error = exc
        check = (
            CheckResult(
                "consistency",
                True,
                f"the signed tree of size {second} extends the signed tree of size {first}",
            )
            if error is None
            else CheckResult("consistency", False, error.detail)
        )
        return ConsistencyReport(proof, first_checkpoint, second_checkpoint, (check,))

    @staticmethod
    def _signed_at(tx: TenantTransaction, size: int) -> Checkpoint:
        checkpoint = tx.checkpoint_at(size)
        if checkpoint is None:
            raise NotFoundError(
                f"no signed checkpoint of tree size {size}; GET /verify/checkpoint gives "
                "the newest",
                tree_size=size,
            )
        return checkpoint
