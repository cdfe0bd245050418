"""A tlog-tiles log on disk, written by our core, for other implementations to read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.hashing import leaf_hash, sha256
from shared.core.merkle import root
from shared.core.note import Ed25519NoteSigner, sign_note
from shared.core.tiles import log_resources
from shared.core.tlog import TreeHead

ORIGIN = "registry.example.com/plant/interop-tenant"


def fixed_key(label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(sha256(label.encode()))


def log_signer(label: str = "log") -> Ed25519NoteSigner:
    return Ed25519NoteSigner.from_private_key(ORIGIN, fixed_key(label))


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    # Varied lengths, including empty and longer-than-255 entries, exercise the uint16
    # length prefixes.
    return [salt + b"entry-%d-" % i + b"x" * (i % 300) for i in range(n)]


def signed_checkpoint(items: Sequence[bytes], signer: Ed25519NoteSigner) -> bytes:
    head = TreeHead(ORIGIN, len(items), root([leaf_hash(e) for e in items]))
    return sign_note(head.text(), [signer])


@dataclass(frozen=True)
class DiskLog:
    base: Path
    checkpoint: bytes


def write_log(base: Path, items: Sequence[bytes], signer: Ed25519NoteSigner) -> DiskLog:
    for path, data in log_resources(items):
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    checkpoint = signed_checkpoint(items, signer)
    (base / "checkpoint").write_bytes(checkpoint)
    return DiskLog(base, checkpoint)
