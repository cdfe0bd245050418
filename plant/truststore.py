"""The trust store: the newest checkpoint this client has verified, per log.

Like the Go checksum-database client, a client that has once seen a signed checkpoint
of a log never accepts a view of that log that does not extend it. ``advance`` takes a
newly fetched signed checkpoint and a way to get a consistency proof; it succeeds only
when the new checkpoint is the stored one or provably extends it, and then remembers the
new one. A smaller tree is a rollback, a different root at the same size or a proof that
fails is a fork: both raise ``TrustStoreError`` carrying both checkpoints.

Example::

    store = TrustStore(Path("~/.config/plant").expanduser())
    log = LogName(url="https://verify.example", tenant_id="acme")
    outcome = store.advance(log, client.checkpoint(), client.prove_extends)
    print(outcome.describe())

Each log is one JSON file under ``<directory>/logs/``, replaced atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from plant.errors import EvidenceError
from shared.core.checkpoints import Checkpoint

STORE_FORMAT = "plant-trust-store/v1"


@dataclasses.dataclass(frozen=True)
class LogName:
    """Which log a checkpoint belongs to, as this client reaches it."""

    url: str
    tenant_id: str

    def file_name(self) -> str:
        digest = hashlib.sha256(f"{self.url}\n{self.tenant_id}".encode()).hexdigest()[:24]
        return f"{digest}.json"

    def __str__(self) -> str:
        return f"tenant {self.tenant_id} at {self.url}"


class TrustStoreError(EvidenceError):
    """A checkpoint that does not extend the one this client verified before."""

    def __init__(self, failure: EvidenceError, *, log: LogName, old: Checkpoint, new: Checkpoint):
        super().__init__(
            failure.detail,
            check=failure.check,
            seq=failure.seq,
            expected=failure.expected,
            found=failure.found,
        )
        self.log = log
        self.old = old
        self.new = new


@dataclasses.dataclass(frozen=True)
class Advance:
    """What ``advance`` did: ``previous`` is None the first time a log is seen."""

    log: LogName
    previous: Checkpoint | None
    current: Checkpoint

    def describe(self) -> str:
        now = self.current
        if self.previous is None:
            return (
                f"first checkpoint of {self.log} remembered: tree size {now.tree_size}, "
                f"root {now.root_hash.hex()[:16]}…"
            )
        if self.previous.tree_size == now.tree_size:
            return f"checkpoint of tree size {now.tree_size} is the one verified before"
        return (
            f"checkpoint of tree size {now.tree_size} extends the verified one of tree size "
            f"{self.previous.tree_size} (consistency proof checked)"
        )


def describe_checkpoint(label: str, checkpoint: Checkpoint) -> str:
    return (
        f"{label}: tree size {checkpoint.tree_size}, root {checkpoint.root_hash.hex()}, "
        f"signed {checkpoint.created_at.isoformat()} by {checkpoint.key_id}"
    )


class TrustStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, log: LogName) -> Path:
        return self.directory / "logs" / log.file_name()

    def load(self, log: LogName) -> Checkpoint | None:
        path = self._path(log)
        if not path.exists():
            return None
        document = json.loads(path.read_text())
        if document.get("format") != STORE_FORMAT:
            raise ValueError(f"{path} is not a {STORE_FORMAT} file")
        return Checkpoint.from_dict(document["checkpoint"])

    def save(self, log: LogName, checkpoint: Checkpoint) -> None:
        path = self._path(log)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        document = {
            "format": STORE_FORMAT,
            "log": {"url": log.url, "tenant_id": log.tenant_id},
            "checkpoint": checkpoint.to_dict(),
        }
        # Write then rename: a crash leaves either the old checkpoint or the new one.
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "w") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def advance(
        self,
        log: LogName,
        checkpoint: Checkpoint,
        prove_extends: Callable[[Checkpoint, Checkpoint], None],
    ) -> Advance:
        """Accept ``checkpoint`` (already signature-checked) only if it extends the stored.

        ``prove_extends(old, new)`` raises EvidenceError unless a consistency proof from
        ``old`` to ``new`` verifies (``Client.prove_extends``). A checkpoint of another
        tenant than ``log`` is refused.
        """
        if checkpoint.tenant_id != log.tenant_id:
            raise EvidenceError(
                f"the checkpoint is of tenant {checkpoint.tenant_id}, not {log.tenant_id}",
                check="log",
                expected=log.tenant_id,
                found=checkpoint.tenant_id,
            )
        previous = self.load(log)
        if previous is not None:
            try:
                prove_extends(previous, checkpoint)
            except EvidenceError as failure:
                raise TrustStoreError(failure, log=log, old=previous, new=checkpoint) from failure
        if previous is None or checkpoint.tree_size > previous.tree_size:
            self.save(log, checkpoint)
        return Advance(log, previous, checkpoint)
