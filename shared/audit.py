"""The service's audit: re-verify a tenant's whole stored log, streaming, in two modes.

``roots`` (the default) recomputes every leaf from its canonical bytes, checks every
record's columns against those bytes, every chain link, every stored tile and every
signed checkpoint (signature, Merkle root, chain head), and verifies the per-record
signatures of the records no checkpoint covers. ``signatures`` adds every record's
Ed25519 (or other) signature, verified in worker processes beside the main pass. What
each mode proves is in ``shared.core.audit`` and docs/performance.md.

The log is read in chunks of ``AUDIT_CHUNK`` records, each in its own short transaction,
so a long audit never holds a pooled connection (or a snapshot) for its whole run and
other requests interleave with it. The log is append-only, so chunks read at different
moments still form one prefix of it; the last chunk and the truncation checks share one
transaction.

Example::

    report = LogAudit(repository, trusted_keys).run("acme", AuditMode.ROOTS)
    print(report.valid, report.first_bad_seq, report.mode)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from shared.core.audit import AuditMode, LogAuditor
from shared.core.errors import VerificationError
from shared.core.signing import PublicKey
from shared.core.tiles import TileAccumulator
from shared.repository import Repository
from shared.repository_audit import AuditChunk, AuditReader
from shared.repository_tiles import TileStore
from shared.signature_workers import SignatureWorkers, worker_count

# Records per audit transaction: a multiple of the tile width (so a chunk's full tiles
# arrive with it), about a second of checking, far inside the statement and
# idle-in-transaction timeouts, and a few MiB of memory.
AUDIT_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class AuditReport:
    """The result of re-verifying a tenant's whole log; the first bad seq when invalid."""

    records_checked: int
    checkpoints_checked: int
    failure: VerificationError | None = None
    mode: AuditMode = AuditMode.ROOTS
    signatures_checked: int = 0

    @property
    def valid(self) -> bool:
        return self.failure is None

    @property
    def first_bad_seq(self) -> int | None:
        return self.failure.seq if self.failure else None

    def to_dict(self) -> dict[str, Any]:
        error = None
        if self.failure is not None:
            error = {
                "check": self.failure.check,
                "seq": self.failure.seq,
                "detail": self.failure.detail,
                "expected": self.failure.expected,
                "found": self.failure.found,
            }
        return {
            "valid": self.valid,
            "mode": str(self.mode),
            "records_checked": self.records_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "signatures_checked": self.signatures_checked,
            "first_bad_seq": self.first_bad_seq,
            "error": error,
        }


class _TileAudit:
    """Holds the stored tiles against tiles rebuilt from the recomputed leaf hashes.

    ``fetch(level, index)`` reads one stored full tile (``None`` if absent); level-0
    tiles usually arrive with their chunk instead.
    """

    def __init__(self, fetch: Callable[[int, int], tuple[bytes, bytes] | None]) -> None:
        self._accumulator = TileAccumulator()
        self._fetch = fetch

    def add(self, seq: int, leaf: bytes, level0: Mapping[int, tuple[bytes, bytes]]) -> None:
        for expected in self._accumulator.append(leaf):
            tile = expected.tile
            if tile.level == 0 and tile.index in level0:
                stored: tuple[bytes, bytes] | None = level0[tile.index]
            else:
                stored = self._fetch(tile.level, tile.index)
            if stored is None or stored != (expected.data, expected.root):
                raise VerificationError(
                    f"stored tile {tile.path()} is "
                    + ("missing" if stored is None else "not the tile of the log's records"),
                    check="tile",
                    seq=seq,
                    expected=expected.root.hex(),
                    found=stored[1].hex() if stored else None,
                )

    def finish(self, stored_counts: Mapping[int, int]) -> None:
        """Full tiles beyond the records mean records were removed from the log's end."""
        for level, stored in sorted(stored_counts.items()):
            built = self._accumulator.full_tiles(level)
            if stored > built:
                raise VerificationError(
                    f"{stored} full tiles at level {level} are stored, but the log's records "
                    f"make {built}: records are missing",
                    check="truncation",
                    expected=built,
                    found=stored,
                )


class LogAudit:
    """Runs audits of one registry's tenants."""

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

    def _chunk(self, tenant_id: str, from_seq: int) -> AuditChunk:
        with self._repository.tenant_transaction(tenant_id) as tx:
            return AuditReader(tx).chunk(from_seq, AUDIT_CHUNK)

    def _tile(self, tenant_id: str, level: int, index: int) -> tuple[bytes, bytes] | None:
        with self._repository.tenant_transaction(tenant_id) as tx:
            return TileStore(tx).full_tiles(level, [index]).get(index)

    def run(self, tenant_id: str, mode: AuditMode = AuditMode.ROOTS) -> AuditReport:
        """Re-verify the tenant's whole log in seq order; stop at the first bad seq.

        While one chunk is checked, a thread reads the next (the database works on it
        meanwhile). The next chunk is asked for at the seq after a complete, contiguous
        chunk; if the chunk had a gap the auditor has already stopped there.
        """
        with self._repository.tenant_transaction(tenant_id) as tx:
            checkpoints = tx.checkpoints()
        auditor = LogAuditor(
            self._trusted_keys, checkpoints, mode=mode, checkpoint_keys=self._checkpoint_keys
        )
        tiles = _TileAudit(lambda level, index: self._tile(tenant_id, level, index))
        workers: SignatureWorkers | None = None
        failure: VerificationError | None = None
        with concurrent.futures.ThreadPoolExecutor(1, "audit-read") as reader:
            upcoming = reader.submit(self._chunk, tenant_id, 1)
            try:
                while True:
                    chunk = upcoming.result()
                    full = len(chunk.entries) == AUDIT_CHUNK
                    if full:
                        upcoming = reader.submit(
                            self._chunk, tenant_id, chunk.entries[0].seq + AUDIT_CHUNK
                        )
                    # Signatures go to worker processes once the log spans more than one
                    # chunk; a shorter log is verified here, sooner than workers start.
                    if mode is AuditMode.SIGNATURES and workers is None and full:
                        workers = SignatureWorkers(self._trusted_keys, worker_count())
                        auditor.verify_signatures = False  # nothing checked yet
                    if workers is not None:
                        workers.submit(chunk.entries)
                    for entry in chunk.entries:
                        leaf = auditor.add_entry(entry)
                        tiles.add(entry.seq, leaf, chunk.tiles)
                    if not full:
                        auditor.finish()
                        tiles.finish(chunk.tile_counts)
                        break
                    if workers is not None and workers.failure is not None:
                        break  # a worker found a bad signature in what was read so far
            except VerificationError as exc:
                failure = exc
            finally:
                upcoming.cancel()
        signatures = auditor.signatures_checked
        if workers is not None:
            try:
                failure = _first(failure, workers.drain())
                signatures += workers.checked
            finally:
                workers.close()
        return AuditReport(
            auditor.records_checked, auditor.checkpoints_checked, failure, mode, signatures
        )


def _first(a: VerificationError | None, b: VerificationError | None) -> VerificationError | None:
    """Of two failures, the one at the lower seq (a failure without a seq comes last)."""
    if a is None or b is None:
        return a or b
    a_seq = a.seq if a.seq is not None else float("inf")
    b_seq = b.seq if b.seq is not None else float("inf")
    return b if b_seq < a_seq else a
