"""Record signatures verified in worker processes, beside an audit's main pass.

Ed25519 verification costs about 70 µs a record, several times everything else an audit
does, so the signatures mode hands it to one spawned process per core. The main pass
submits each chunk as it reads it; at most two pieces per worker wait at any time, so
memory stays bounded however long the log. Used by the service's audit and by
``plant audit``; no database here.

Example::

    workers = SignatureWorkers(trusted_keys, worker_count())
    try:
        workers.submit(entries)        # as many times as there are chunks
        failure = workers.drain()      # the first bad signature in seq order, or None
    finally:
        workers.close()
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core.audit import LogEntry, first_bad_signature
from shared.core.errors import VerificationError
from shared.core.signing import PublicKey

# Records per piece of signature work sent to a worker process.
SIGNATURE_PIECE = 1024

_worker_keys: dict[str, PublicKey] = {}


def _load_worker_keys(keys: Sequence[tuple[str, str, bytes]]) -> None:
    _worker_keys.clear()
    for key_id, algorithm, pem in keys:
        _worker_keys[key_id] = PublicKey(key_id=key_id, algorithm=algorithm, pem=pem)


def _verify_piece(entries: Sequence[LogEntry]) -> tuple[int, dict[str, Any] | None]:
    """(signatures checked, the first failure's fields or None), in a worker process."""
    failure = first_bad_signature(entries, _worker_keys)
    if failure is None:
        return len(entries), None
    assert failure.seq is not None
    checked = failure.seq - entries[0].seq
    return checked, {
        "detail": failure.detail,
        "check": failure.check,
        "seq": failure.seq,
        "expected": failure.expected,
        "found": failure.found,
    }


class SignatureWorkers:
    """Verifies record signatures in worker processes, a bounded number of pieces ahead.

    Spawned, not forked: the service runs threads, and a forked copy of a threaded
    process may inherit a lock some other thread held.
    """

    def __init__(self, trusted_keys: Mapping[str, PublicKey], workers: int) -> None:
        keys = [(k.key_id, k.algorithm, k.pem) for k in trusted_keys.values()]
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_worker_keys,
            initargs=(keys,),
        )
        self._pending: deque[concurrent.futures.Future[tuple[int, dict[str, Any] | None]]] = deque()
        self._limit = 2 * workers
        self.checked = 0
        self.failure: VerificationError | None = None

    def submit(self, entries: Sequence[LogEntry]) -> None:
        for start in range(0, len(entries), SIGNATURE_PIECE):
            while len(self._pending) >= self._limit and self.failure is None:
                self._collect_oldest()
            if self.failure is not None:
                return
            piece = list(entries[start : start + SIGNATURE_PIECE])
            self._pending.append(self._pool.submit(_verify_piece, piece))

    def _collect_oldest(self) -> None:
        checked, failure = self._pending.popleft().result()
        self.checked += checked
        if failure is not None and self.failure is None:
            self.failure = VerificationError(
                failure.pop("detail"), check=failure.pop("check"), **failure
            )

    def drain(self) -> VerificationError | None:
        """Wait for every submitted piece; the first failure in seq order, if any."""
        while self._pending and self.failure is None:
            self._collect_oldest()
        return self.failure

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def worker_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
