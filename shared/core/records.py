"""Version records, signed checkpoints and proofs: the registry's evidence, as values.

A record's content is canonicalised once; those bytes are the Merkle leaf input, their
leaf hash extends the tenant's hash chain, and a signature covers a small statement
binding the leaf hash, chain hash, position and key.

Example::

    record = seal_record(
        tenant_id="acme", seq=1, entity_id=entity_id, version=1, entity_type="Industry",
        status="active", data={"name": "Energy", "description": "Power"},
        created_at=now, created_by="svc-a", reason=None, supersedes=None,
        previous_chain_hash=GENESIS_CHAIN_HASH, signer=signer,
    )
    assert VersionRecord.from_dict(record.to_dict()) == record
    checkpoint = sign_checkpoint(tenant_id="acme", tree_size=1, root_hash=record.leaf_hash,
                                 chain_head=record.chain_hash, created_at=now, signer=signer)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.core.canonical import canonicalize
from shared.core.errors import InputError
from shared.core.hashing import HASH_SIZE, chain_hash, leaf_hash
from shared.core.signing import Signer, sign_all

RECORD_FORMAT = "plant-registry/record/v1"
RECORD_SIGNATURE_FORMAT = "plant-registry/record-signature/v1"
CHECKPOINT_FORMAT = "plant-registry/checkpoint/v1"

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


# --- timestamps ---------------------------------------------------------------------


def format_timestamp(dt: datetime) -> str:
    """UTC with exactly six fractional digits and a Z, e.g. 2026-11-24T22:24:56.123456Z.

    One fixed-width form means the same instant always has the same canonical bytes.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InputError("timestamps must be timezone-aware", path="$.created_at")
    u = dt.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def parse_timestamp(s: str, *, path: str = "$.created_at") -> datetime:
    """Inverse of ``format_timestamp``; only that exact form is accepted."""
    if not isinstance(s, str) or not _TIMESTAMP.match(s):
        raise InputError(
            "timestamp must look like 2026-11-24T22:24:56.123456Z", path=path, found=repr(s)
        )
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InputError(f"invalid timestamp: {exc}", path=path) from None


# --- shape checks shared by the from_dict methods ----------------------------------


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    # bool is an int subclass; a boolean sequence number is a bug, not a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(f"{name} is missing or has the wrong type", path=f"$.{name}")
    return value


def _optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    if data.get(name) is None:
        return None
    return _field(data, name, kind)


def _mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError("expected a JSON object")
    return data


def _hex_digest(value: object, path: str) -> bytes:
    if not isinstance(value, str) or not _HEX_DIGEST.match(value):
        raise InputError("expected a lowercase hex SHA-256 digest", path=path)
    return bytes.fromhex(value)


def _b64(value: object, path: str) -> bytes:
    if not isinstance(value, str):
        raise InputError("expected a base64 string", path=path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("invalid base64", path=path) from None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _nonneg_int(data: Mapping[str, Any], name: str) -> int:
    value: int = _field(data, name, int)
    if value < 0:
        raise InputError(f"{name} must not be negative", path=f"$.{name}")
    return value


# --- version records ----------------------------------------------------------------


def _content(
    *,
    tenant_id: str,
    seq: int,
    entity_id: str,
    version: int,
    entity_type: str,
    status: str,
    data: Mapping[str, Any],
    created_at: str,
    created_by: str,
    reason: str | None,
    supersedes: int | None,
) -> bytes:
    return canonicalize(
        {
            "format": RECORD_FORMAT,
            "tenant_id": tenant_id,
            "seq": seq,
            "entity_id": entity_id,
            "version": version,
            "entity_type": entity_type,
            "status": status,
            "data": data,
            "created_at": created_at,
            "created_by": created_by,
            "reason": reason,
            "supersedes": supersedes,
        }
    )


def content_bytes(
    *,
    tenant_id: str,
    seq: int,
    entity_id: str,
    version: int,
    entity_type: str,
    status: str,
    data: Mapping[str, Any],
    created_at: datetime,
    created_by: str,
    reason: str | None,
    supersedes: int | None,
) -> bytes:
    """The canonical bytes of a version record: the Merkle leaf input."""
    return _content(
        tenant_id=tenant_id,
        seq=seq,
        entity_id=entity_id,
        version=version,
        entity_type=entity_type,
        status=status,
        data=data,
        created_at=format_timestamp(created_at),
        created_by=created_by,
        reason=reason,
        supersedes=supersedes,
    )


def _statement(
    *,
    tenant_id: str,
    seq: int,
    entity_id: str,
    version: int,
    leaf_hash: bytes,
    chain_hash: bytes,
    key_id: str,
    created_at: str,
) -> bytes:
    return canonicalize(
        {
            "format": RECORD_SIGNATURE_FORMAT,
            "tenant_id": tenant_id,
            "seq": seq,
            "entity_id": entity_id,
            "version": version,
            "leaf_hash": leaf_hash.hex(),
            "chain_hash": chain_hash.hex(),
            "key_id": key_id,
            "created_at": created_at,
        }
    )


def signature_statement(
    *,
    tenant_id: str,
    seq: int,
    entity_id: str,
    version: int,
    leaf_hash: bytes,
    chain_hash: bytes,
    key_id: str,
    created_at: datetime,
) -> bytes:
    """The canonical statement a record signature covers.

    It binds the content (through the leaf hash) and the whole history before it
    (through the chain hash), and names the key so a signature cannot be re-attributed.
    """
    return _statement(
        tenant_id=tenant_id,
        seq=seq,
        entity_id=entity_id,
        version=version,
        leaf_hash=leaf_hash,
        chain_hash=chain_hash,
        key_id=key_id,
        created_at=format_timestamp(created_at),
    )


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One version of one entity, with the evidence that it is genuine and in the log."""

    tenant_id: str
    seq: int
    entity_id: str
    version: int
    entity_type: str
    status: str
    data: Mapping[str, Any]
    created_at: datetime
    created_by: str
    reason: str | None
    supersedes: int | None
    canonical: bytes
    leaf_hash: bytes
    chain_hash: bytes
    signature: bytes
    key_id: str

    def signed_statement(self) -> bytes:
        """The statement ``signature`` should cover, rebuilt from this record's fields."""
        return signature_statement(
            tenant_id=self.tenant_id,
            seq=self.seq,
            entity_id=self.entity_id,
            version=self.version,
            leaf_hash=self.leaf_hash,
            chain_hash=self.chain_hash,
            key_id=self.key_id,
            created_at=self.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "entity_id": self.entity_id,
            "version": self.version,
            "entity_type": self.entity_type,
            "status": self.status,
            "data": dict(self.data),
            "created_at": format_timestamp(self.created_at),
            "created_by": self.created_by,
            "reason": self.reason,
            "supersedes": self.supersedes,
            "canonical": _b64encode(self.canonical),
            "leaf_hash": self.leaf_hash.hex(),
            "chain_hash": self.chain_hash.hex(),
            "signature": _b64encode(self.signature),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VersionRecord:
        d = _mapping(d)
        data = d.get("data")
        if not isinstance(data, Mapping):
            raise InputError("data must be an object", path="$.data")
        return cls(
            tenant_id=_field(d, "tenant_id", str),
            seq=_nonneg_int(d, "seq"),
            entity_id=_field(d, "entity_id", str),
            version=_nonneg_int(d, "version"),
            entity_type=_field(d, "entity_type", str),
            status=_field(d, "status", str),
            data=dict(data),
            created_at=parse_timestamp(_field(d, "created_at", str)),
            created_by=_field(d, "created_by", str),
            reason=_optional(d, "reason", str),
            supersedes=_optional(d, "supersedes", int),
            canonical=_b64(d.get("canonical"), "$.canonical"),
            leaf_hash=_hex_digest(d.get("leaf_hash"), "$.leaf_hash"),
            chain_hash=_hex_digest(d.get("chain_hash"), "$.chain_hash"),
            signature=_b64(d.get("signature"), "$.signature"),
            key_id=_field(d, "key_id", str),
        )


def seal_record(
    *,
    tenant_id: str,
    seq: int,
    entity_id: str,
    version: int,
    entity_type: str,
    status: str,
    data: Mapping[str, Any],
    created_at: datetime,
    created_by: str,
    reason: str | None,
    supersedes: int | None,
    previous_chain_hash: bytes,
    signer: Signer,
) -> VersionRecord:
    """Canonicalise, hash, chain and sign one new version."""
    fields = RecordFields(
        tenant_id=tenant_id,
        seq=seq,
        entity_id=entity_id,
        version=version,
        entity_type=entity_type,
        status=status,
        data=data,
        created_at=created_at,
        created_by=created_by,
        reason=reason,
        supersedes=supersedes,
    )
    return seal_records([fields], previous_chain_hash=previous_chain_hash, signer=signer)[0]


@dataclasses.dataclass(frozen=True)
class RecordFields:
    """The content of a version before it is sealed: what its canonical bytes say."""

    tenant_id: str
    seq: int
    entity_id: str
    version: int
    entity_type: str
    status: str
    data: Mapping[str, Any]
    created_at: datetime
    created_by: str
    reason: str | None
    supersedes: int | None


def seal_records(
    items: Sequence[RecordFields], *, previous_chain_hash: bytes, signer: Signer
) -> list[VersionRecord]:
    """Canonicalise, hash and chain consecutive versions, then sign them all (the hot path).

    Chain hashes depend only on leaf hashes, so every statement is known before the first
    signature; ``sign_all`` lets a remote signer (Cloud KMS) sign them concurrently.
    """
    key_id = signer.key_id
    previous = previous_chain_hash
    sealed: list[tuple[RecordFields, bytes, bytes, bytes]] = []
    statements: list[bytes] = []
    for item in items:
        timestamp = format_timestamp(item.created_at)
        canonical = _content(
            tenant_id=item.tenant_id,
            seq=item.seq,
            entity_id=item.entity_id,
            version=item.version,
            entity_type=item.entity_type,
            status=item.status,
            data=item.data,
            created_at=timestamp,
            created_by=item.created_by,
            reason=item.reason,
            supersedes=item.supersedes,
        )
        leaf = leaf_hash(canonical)
        chain = chain_hash(previous, leaf)
        statements.append(
            _statement(
                tenant_id=item.tenant_id,
                seq=item.seq,
                entity_id=item.entity_id,
                version=item.version,
                leaf_hash=leaf,
                chain_hash=chain,
                key_id=key_id,
                created_at=timestamp,
            )
        )
        sealed.append((item, canonical, leaf, chain))
        previous = chain
    signatures = sign_all(signer, statements)
    return [
        VersionRecord(
            tenant_id=item.tenant_id,
            seq=item.seq,
            entity_id=item.entity_id,
            version=item.version,
            entity_type=item.entity_type,
            status=item.status,
            data=item.data,
            created_at=item.created_at,
            created_by=item.created_by,
            reason=item.reason,
            supersedes=item.supersedes,
            canonical=canonical,
            leaf_hash=leaf,
            chain_hash=chain,
            signature=signature,
            key_id=key_id,
        )
        for (item, canonical, leaf, chain), signature in zip(sealed, signatures, strict=True)
    ]


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
                "timestamp": format_timestamp(self.created_at),
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
            "created_at": format_timestamp(self.created_at),
            "key_id": self.key_id,
            "signature": _b64encode(self.signature),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        d = _mapping(d)
        if d.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
            raise InputError(f"format must be {CHECKPOINT_FORMAT}", path="$.format")
        return cls(
            tenant_id=_field(d, "tenant_id", str),
            tree_size=_nonneg_int(d, "tree_size"),
            root_hash=_hex_digest(d.get("root_hash"), "$.root_hash"),
            chain_head=_hex_digest(d.get("chain_head"), "$.chain_head"),
            created_at=parse_timestamp(_field(d, "created_at", str)),
            key_id=_field(d, "key_id", str),
            signature=_b64(d.get("signature"), "$.signature"),
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


def _hash_list(value: object, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InputError("expected a list of hex digests", path=path)
    return tuple(_hex_digest(item, f"{path}[{i}]") for i, item in enumerate(value))


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
        d = _mapping(d)
        return cls(
            leaf_index=_nonneg_int(d, "leaf_index"),
            tree_size=_nonneg_int(d, "tree_size"),
            hashes=_hash_list(d.get("hashes"), "$.hashes"),
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
        d = _mapping(d)
        return cls(
            first_size=_nonneg_int(d, "first_size"),
            second_size=_nonneg_int(d, "second_size"),
            hashes=_hash_list(d.get("hashes"), "$.hashes"),
        )
