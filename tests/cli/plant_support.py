"""Signed logs built with the pure core, written out the way ``plant export`` writes them.

The CLI and client tests need real evidence (real leaf hashes, chain links, signatures
and Merkle roots) without a server; this builds it with the same functions the service
uses, so a test that tampers with it exercises the real checks.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.core import merkle
from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.hashing import GENESIS_CHAIN_HASH
from shared.core.records import RecordContent, VersionRecord, seal_record
from shared.core.signing import LocalSigner
from shared.core.tiles import log_resources

START = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class SignedLog:
    records: list[VersionRecord]
    signer: LocalSigner
    tenant_id: str

    def checkpoint(self, size: int) -> Checkpoint:
        leaves = [record.leaf_hash for record in self.records[:size]]
        return sign_checkpoint(
            tenant_id=self.tenant_id,
            tree_size=size,
            root_hash=merkle.root(leaves),
            chain_head=self.records[size - 1].chain_hash,
            created_at=START + timedelta(hours=size),
            signer=self.signer,
        )

    def consistency(self, first: int, second: int) -> list[bytes]:
        leaves = [record.leaf_hash for record in self.records[:second]]
        return merkle.consistency_proof(first, leaves)

    def keys_document(self) -> dict[str, Any]:
        return {"keys": [self.signer.public_key.to_dict()]}


def signed_log(size: int, signer: LocalSigner, tenant_id: str = "acme", tag: str = "") -> SignedLog:
    """``size`` Industry records, chained and signed; ``tag`` makes a different history."""
    records: list[VersionRecord] = []
    previous = GENESIS_CHAIN_HASH
    for seq in range(1, size + 1):
        content = RecordContent(
            tenant_id=tenant_id,
            seq=seq,
            entity_id=str(uuid.UUID(int=seq)),
            version=1,
            entity_type="Industry",
            status="active",
            data={"name": f"Industry {seq}{tag}", "description": "Made by a test"},
            created_at=START + timedelta(seconds=seq),
            created_by="test",
            reason=None,
            supersedes=None,
        )
        record = seal_record(content, previous_chain_hash=previous, signer=signer)
        records.append(record)
        previous = record.chain_hash
    return SignedLog(records, signer, tenant_id)


def write_export(
    directory: Path,
    log: SignedLog,
    *,
    records: int | None = None,
    checkpoint_sizes: tuple[int, ...] | None = None,
    complete: bool = True,
    tile_size: int | None = None,
) -> Path:
    """An export directory holding the first ``records`` records and those checkpoints,
    and with ``tile_size`` the log's hash tiles at that size, as ``plant export`` saves."""
    count = len(log.records) if records is None else records
    sizes = checkpoint_sizes if checkpoint_sizes is not None else (len(log.records),)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keys.json").write_text(json.dumps(log.keys_document()))
    (directory / "checkpoints").mkdir(exist_ok=True)
    for size in sizes:
        (directory / "checkpoints" / f"{size}.json").write_text(
            json.dumps(log.checkpoint(size).to_dict())
        )
    lines = b"".join(
        json.dumps(record.to_dict(), sort_keys=True).encode() + b"\n"
        for record in log.records[:count]
    )
    (directory / "log.jsonl").write_bytes(lines)
    manifest = {
        "format": "plant-export/v1",
        "url": "http://127.0.0.1:8080",
        "tenant_id": log.tenant_id,
        "records": count,
        "log_bytes": len(lines),
        "complete": complete,
        "tile_size": tile_size or 0,
    }
    if tile_size:
        entries = [record.canonical for record in log.records[:tile_size]]
        for path, data in log_resources(entries):
            if not path.startswith("tile/entries/"):
                target = directory / "tiles" / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory
