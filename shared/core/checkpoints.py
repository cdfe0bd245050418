"""Signed checkpoints and Merkle proofs: what a tenant's tree is proven with, as values.

A checkpoint is a signed statement of the tenant's log at one size (Merkle root and chain
head); inclusion and consistency proofs are the RFC 9162 audit paths checked against one.

Example::

    checkpoint = sign_checkpoint(tenant_id="acme", tree_size=1, root_hash=record.leaf_hash,
                                 chain_head=record.chain_hash, created_at=now, signer=signer)
    assert Checkpoint.from_dict(checkpoint.to_dict()) == checkpoint
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.core import wire
from shared.core.canonical import canonicalize
from shared.core.errors import InputError
from shared.core.hashing import HASH_SIZE
from shared.core.signing import Signer

CHECKPOINT_FORMAT = "plant-registry/checkpoint/v1"


# --- checkpoints --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A signed statement of a tenant's log at a size: Merkle root and chain head."""

    tenant_id: str
    tree_size: int
    root_hash: bytes
    chain_head: bytes
    created_at: datetime
    key_id: str
    signature: bytes

    def statement(self) -> bytes:
        return canonicalize(
            {
                "format": CHECKPOINT_FORMAT,
                "tenant_id": self.tenant_id,
                "tree_size": self.tree_size,
                "root_hash": self.root_hash.hex(),
                "chain_head": self.chain_head.hex(),
                "timestamp": wire.format_timestamp(self.created_at),
                "key_id": self.key_id,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "tenant_id": self.tenant_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "chain_head": self.chain_head.hex(),
            "created_at": wire.format_timestamp(self.created_at),
            "key_id": self.key_id,
            "signature": wire.b64encode(self.signature),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        d = wire.mapping(d)
        if d.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
            raise InputError(f"format must be {CHECKPOINT_FORMAT}", path="$.format")
        return cls(
            tenant_id=wire.field(d, "tenant_id", str),
            tree_size=wire.nonneg_int(d, "tree_size"),
            root_hash=wire.hex_digest(d.get("root_hash"), "$.root_hash"),
            chain_head=wire.hex_digest(d.get("chain_head"), "$.chain_head"),
            created_at=wire.parse_timestamp(wire.field(d, "created_at", str)),
            key_id=wire.field(d, "key_id", str),
            signature=wire.b64decode(d.get("signature"), "$.signature"),
        )


def sign_checkpoint(
    *,
    tenant_id: str,
    tree_size: int,
    root_hash: bytes,
    chain_head: bytes,
    created_at: datetime,
    signer: Signer,
) -> Checkpoint:
    if len(root_hash) != HASH_SIZE or len(chain_head) != HASH_SIZE:
        raise ValueError("checkpoint root and chain head must be 32-byte digests")
    unsigned = Checkpoint(
        tenant_id=tenant_id,
        tree_size=tree_size,
        root_hash=root_hash,
        chain_head=chain_head,
        created_at=created_at,
        key_id=signer.key_id,
        signature=b"",
    )
    return dataclasses.replace(unsigned, signature=signer.sign(unsigned.statement()))


# --- proofs -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "hashes": [h.hex() for h in self.hashes],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InclusionProof:
        d = wire.mapping(d)
        return cls(
            leaf_index=wire.nonneg_int(d, "leaf_index"),
            tree_size=wire.nonneg_int(d, "tree_size"),
            hashes=wire.hash_list(d.get("hashes"), "$.hashes"),
        )


@dataclasses.dataclass(frozen=True)
class ConsistencyProof:
    first_size: int
    second_size: int
    hashes: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_size": self.first_size,
            "second_size": self.second_size,
            "hashes": [h.hex() for h in self.hashes],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConsistencyProof:
        d = wire.mapping(d)
        return cls(
            first_size=wire.nonneg_int(d, "first_size"),
            second_size=wire.nonneg_int(d, "second_size"),
            hashes=wire.hash_list(d.get("hashes"), "$.hashes"),
        )
