"""The one path that signs checkpoints: only over verified records, never twice per size.

Writes call ``sign_if_due`` once ``CHECKPOINT_EVERY`` records (or ``CHECKPOINT_MAX_AGE``
seconds) are unsigned, the admin command ``POST /verify/checkpoint`` and the scheduled
job call ``sign``; reads never sign (docs/adr/0008-checkpoint-signing.md). Before it
signs, inside one transaction that holds the tenant's checkpoint-signer lock:

1. **No rollback.** The newest checkpoint published outside the database (the
   publisher), and the newest this process signed, must be in the database with the
   same root, and the log must be at least as long as the database's newest
   checkpoint. Otherwise the database is behind or differs from what was signed:
   ``LogRollbackError``, nothing signed.
2. **Verified tail.** The previous signed checkpoint is genuine and its stored frontier
   reproduces its root; every record after it is verified as the guard verifies a
   record the service builds on (leaf hash from canonical bytes, signature with a
   trusted key, columns) and chains onto the one before it, from the previous
   checkpoint's signed chain head.
3. **Extends.** The new root (the verified frontier plus the verified leaves) equals the
   root the stored tiles give, and the RFC 9162 consistency proof read from those tiles
   leads from the previous signed root to it.

Any failure is an ``IntegrityViolationError`` naming the check and the seq, logged at
ERROR. A signed checkpoint is then published through an outbox: a checkpoint without a
``checkpoint_publications`` row is published again (oldest first) by the next signing,
``POST /verify/checkpoint``, the sweep, or the next write of its tenant in this process,
until the publisher has it (``publish_pending``).

Example::

    checkpointer = Checkpointer(repository, signer, guard, trusted_keys, publisher,
                                clock=utc_now)
    checkpoint = checkpointer.sign("acme")   # the newest, signed now if the log grew
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from shared.core import merkle
from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.errors import (
    IntegrityViolationError,
    LogRollbackError,
    NotFoundError,
    RegistryError,
    VerificationError,
)
from shared.core.hashing import GENESIS_CHAIN_HASH, chain_hash, digests_equal
from shared.core.merkle import MerkleAccumulator
from shared.core.signing import PublicKey, Signer
from shared.core.tiles import TiledTree
from shared.core.verification import verify_checkpoint
from shared.integrity import RecordGuard
from shared.publisher import CheckpointPublisher, NullPublisher
from shared.repository import Repository, TenantTransaction
from shared.repository_tiles import TileStore

_log = logging.getLogger(__name__)

# Records verified per round trip while signing: bounded memory, however long the tail.
VERIFY_CHUNK = 1000
# Outbox entries published per call; the rest wait for the next one.
PUBLISH_BATCH = 100
_USE = "signing a checkpoint"


def _violation(detail: str, *, check: str, seq: int | None = None) -> IntegrityViolationError:
    return RecordGuard.violation(detail, check=check, seq=seq, use=_USE)


def _rollback(detail: str, *, expected: object = None, found: object = None) -> LogRollbackError:
    _log.error("log rollback detected: %s; refused to sign a checkpoint", detail)
    return LogRollbackError(
        f"{detail}; the service refused to sign a checkpoint",
        check="rollback",
        expected=expected,
        found=found,
    )


class Checkpointer:
    """Signs a tenant's checkpoints, one signer per tenant at a time."""

    def __init__(
        self,
        repository: Repository,
        signer: Signer,
        guard: RecordGuard,
        trusted_keys: Mapping[str, PublicKey],
        publisher: CheckpointPublisher,
        *,
        clock: Callable[[], datetime],
        every: int = 0,
        checkpoint_keys: Mapping[str, PublicKey] | None = None,
    ) -> None:
        self._repository = repository
        self._signer = signer
        self._guard = guard
        self._trusted_keys = trusted_keys
        self._checkpoint_keys = checkpoint_keys
        self._publisher = publisher
        self._clock = clock
        self.every = every
        # The newest checkpoint this process signed or saw published, per tenant: one
        # more place a rollback shows, even when the publisher is down or absent.
        self._witnessed: dict[str, Checkpoint] = {}
        # Tenants whose last publication failed here: their next write retries it.
        self.pending: set[str] = set()
        self._lock = threading.Lock()

    @property
    def publisher_kind(self) -> str:
        return str(getattr(self._publisher, "kind", type(self._publisher).__name__))

    @property
    def publishes(self) -> bool:
        """False without a publisher: there is no outbox to keep then."""
        return not isinstance(self._publisher, NullPublisher)

    # --- entry points ----------------------------------------------------------------

    def sign(self, tenant_id: str) -> Checkpoint:
        """The tenant's newest checkpoint, signed now when the log grew past it.

        Waits (within lock_timeout) for a concurrent signer and then uses its result.
        NotFoundError when the log is empty.
        """
        checkpoint = self._sign(tenant_id, wait=True, force=True)
        if checkpoint is None:
            raise NotFoundError("this tenant's log is empty; there is no checkpoint to sign")
        self.publish_pending(tenant_id)
        return checkpoint

    def sign_if_due(self, tenant_id: str, *, force: bool = False) -> Checkpoint | None:
        """After a write: sign when ``every`` records are unsigned (or ``force``, when the
        oldest unsigned record is older than the maximum age), unless another signer of
        this tenant is at work right now — its checkpoint covers this write's records
        or the next write's call signs. Returns the checkpoint signed, else None."""
        checkpoint = self._sign(tenant_id, wait=False, force=force)
        if checkpoint is not None or tenant_id in self.pending:
            self.publish_pending(tenant_id)
        return checkpoint

    # --- signing ---------------------------------------------------------------------

    def _sign(self, tenant_id: str, *, wait: bool, force: bool) -> Checkpoint | None:
        # Read before the transaction, so no connection waits on the bucket. The newest
        # published checkpoint only grows, and whatever a concurrent signer publishes
        # meanwhile it committed to the database first, so an early read is safe.
        witnesses = [
            ("published", self._publisher.latest(tenant_id)),
            ("signed by this process", self._witnessed.get(tenant_id)),
        ]
        with self._repository.tenant_transaction(tenant_id) as tx:
            if not tx.lock_checkpoints(wait=wait):
                return None
            latest = tx.latest_checkpoint()
            head = tx.head()
            self._check_no_rollback(tx, tenant_id, latest, head.seq, witnesses)
            after = latest.tree_size if latest is not None else 0
            if head.seq <= after:
                return latest if force else None
            if not force and head.seq - after < max(self.every, 1):
                return None  # a concurrent signer already covered the records
            checkpoint = self._sign_extension(tx, tenant_id, latest, head.seq)
        self._witness(checkpoint)
        return checkpoint

    def _sign_extension(
        self, tx: TenantTransaction, tenant_id: str, latest: Checkpoint | None, upto: int
    ) -> Checkpoint:
        accumulator = self._resume(tx, latest)
        chain_head = self._verify_tail(
            tx,
            accumulator,
            upto=upto,
            previous_chain=latest.chain_head if latest is not None else GENESIS_CHAIN_HASH,
        )
        self._prove_extends(tx, latest, accumulator)
        checkpoint = sign_checkpoint(
            tenant_id=tenant_id,
            tree_size=accumulator.size,
            root_hash=accumulator.root(),
            chain_head=chain_head,
            created_at=self._clock().astimezone(UTC),
            signer=self._signer,
        )
        if not tx.insert_checkpoint(checkpoint, accumulator.frontier):
            # Only a signer that skipped the lock could have stored this size first.
            raise _violation(
                f"a checkpoint of tree size {checkpoint.tree_size} appeared while this "
                "signer held the tenant's checkpoint lock",
                check="checkpoint",
                seq=checkpoint.tree_size,
            )
        return checkpoint

    def _check_no_rollback(
        self,
        tx: TenantTransaction,
        tenant_id: str,
        latest: Checkpoint | None,
        head_seq: int,
        witnesses: list[tuple[str, Checkpoint | None]],
    ) -> None:
        """Raise LogRollbackError unless the database holds every checkpoint known to
        have been signed outside it, and its log reaches its own newest checkpoint."""
        for source, witnessed in witnesses:
            if witnessed is None:
                continue
            self._genuine(witnessed, tenant_id, source)
            size = witnessed.tree_size
            same_size = latest is not None and latest.tree_size == size
            stored = latest if same_size else tx.checkpoint_at(size)
            if stored is None:
                raise _rollback(
                    f"the checkpoint of tree size {size} was {source}, but the database "
                    f"holds no checkpoint of that size (its newest: "
                    f"{latest.tree_size if latest else 'none'})",
                    expected=size,
                    found=latest.tree_size if latest else 0,
                )
            if not digests_equal(stored.root_hash, witnessed.root_hash):
                raise _rollback(
                    f"the database's checkpoint of tree size {size} differs from the one {source}",
                    expected=witnessed.root_hash.hex(),
                    found=stored.root_hash.hex(),
                )
        if latest is not None and head_seq < latest.tree_size:
            raise _rollback(
                f"the log has {head_seq} records, but a checkpoint of tree size "
                f"{latest.tree_size} was signed",
                expected=latest.tree_size,
                found=head_seq,
            )

    def _genuine(self, checkpoint: Checkpoint, tenant_id: str, source: str) -> None:
        try:
            verify_checkpoint(checkpoint, self._trusted_keys, note_keys=self._checkpoint_keys)
        except VerificationError as exc:
            raise _violation(
                f"the checkpoint {source} at tree size {checkpoint.tree_size} does not "
                f"verify: {exc.detail}",
                check="checkpoint",
                seq=checkpoint.tree_size,
            ) from exc
        if checkpoint.tenant_id != tenant_id:
            raise _violation(
                f"the checkpoint {source} is of another tenant's log", check="checkpoint"
            )

    def _resume(self, tx: TenantTransaction, latest: Checkpoint | None) -> MerkleAccumulator:
        """The previous signed tree's frontier, trusted only once it gives the signed root."""
        if latest is None:
            return MerkleAccumulator()
        self._genuine(latest, latest.tenant_id, "stored")
        size = latest.tree_size
        try:
            accumulator = MerkleAccumulator.from_frontier(size, tx.frontier_at(size) or b"")
        except ValueError as exc:
            raise _violation(
                f"the stored frontier of the checkpoint at tree size {size} is malformed: {exc}",
                check="checkpoint_frontier",
                seq=size,
            ) from exc
        if not digests_equal(accumulator.root(), latest.root_hash):
            raise _violation(
                f"the stored frontier of the checkpoint at tree size {size} does not "
                "reproduce its signed root",
                check="checkpoint_frontier",
                seq=size,
            )
        return accumulator

    def _verify_tail(
        self,
        tx: TenantTransaction,
        accumulator: MerkleAccumulator,
        *,
        upto: int,
        previous_chain: bytes,
    ) -> bytes:
        """Verify every record after the accumulator's tree up to ``upto`` and add its
        leaf; return the last one's chain hash."""
        next_seq = accumulator.size + 1
        while next_seq <= upto:
            stored = tx.log_range(next_seq, min(VERIFY_CHUNK, upto - next_seq + 1))
            if not stored:
                raise _violation(
                    f"seq {next_seq} is missing from the log", check="seq", seq=next_seq
                )
            records = self._guard.log_page(stored, next_seq, use=_USE)
            first = records[0]
            if not digests_equal(chain_hash(previous_chain, first.leaf_hash), first.chain_hash):
                raise _violation(
                    f"record seq {first.seq}: its chain hash does not link to seq {first.seq - 1}",
                    check="chain_hash",
                    seq=first.seq,
                )
            for record in records:
                accumulator.append(record.leaf_hash)
            previous_chain = records[-1].chain_hash
            next_seq = records[-1].seq + 1
        return previous_chain

    def _prove_extends(
        self, tx: TenantTransaction, latest: Checkpoint | None, accumulator: MerkleAccumulator
    ) -> None:
        """The stored tiles give the verified root, and prove it extends the signed one."""
        size, root = accumulator.size, accumulator.root()
        old = latest.tree_size if latest is not None else 0
        ranges = [*merkle.consistency_ranges(old, size), (0, size)] if old else [(0, size)]
        try:
            *proof, tiles_root = TiledTree(size, TileStore(tx)).range_hashes(ranges)
        except VerificationError as exc:
            raise _violation(
                f"the stored tiles of the tree of size {size} are incomplete: {exc.detail}",
                check="tile",
            ) from exc
        if not digests_equal(tiles_root, root):
            raise _violation(
                f"the stored tiles do not give the root of the verified records at tree "
                f"size {size}",
                check="tile",
            )
        if latest is None:
            return
        try:
            merkle.verify_consistency(
                first_size=old,
                second_size=size,
                first_root=latest.root_hash,
                second_root=root,
                proof=proof,
            )
        except VerificationError as exc:
            raise _violation(
                f"the tree of size {size} is not proven to extend the signed tree of size "
                f"{old}: {exc.detail}",
                check="consistency",
                seq=old + 1,
            ) from exc

    # --- after signing ---------------------------------------------------------------

    def _witness(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            known = self._witnessed.get(checkpoint.tenant_id)
            if known is None or known.tree_size < checkpoint.tree_size:
                self._witnessed[checkpoint.tenant_id] = checkpoint

    def publish_pending(self, tenant_id: str) -> int:
        """Publish the tenant's checkpoints the publisher has not confirmed, oldest
        first; return how many it now has. A failure is logged and left in the outbox."""
        if not self.publishes:
            return 0
        with self._repository.tenant_transaction(tenant_id) as tx:
            waiting = tx.unpublished_checkpoints(PUBLISH_BATCH)
        done: list[int] = []
        try:
            for checkpoint in waiting:
                self._genuine(checkpoint, tenant_id, "stored")  # never publish a forgery
                self._publisher.publish(checkpoint)
                done.append(checkpoint.tree_size)
        except RegistryError as exc:
            self.pending.add(tenant_id)
            log = _log.error if isinstance(exc, IntegrityViolationError) else _log.warning
            log(
                "publishing the checkpoints of tenant %s failed, %d remain in the outbox: %s (%s)",
                tenant_id,
                len(waiting) - len(done),
                exc.detail,
                exc.kind,
            )
        if done:
            with self._repository.tenant_transaction(tenant_id) as tx:
                tx.mark_published(done, self._clock())
        if len(done) == len(waiting) < PUBLISH_BATCH:
            self.pending.discard(tenant_id)
        elif len(done) == len(waiting):
            self.pending.add(tenant_id)  # a full batch: more may wait behind it
        return len(done)
