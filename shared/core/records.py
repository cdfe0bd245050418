"""Version records: a content value plus a seal, defined once.

``RecordContent`` is what a version says; its fields are the record format's fields, and
``content_bytes`` is the one function from content to the canonical bytes (RFC 8785)
that are hashed, chained and signed. ``Seal`` is the evidence over those bytes: the bytes
themselves, their leaf hash, the chain hash and the signature with its key id. A
``VersionRecord`` is both. Sealing, verification, storage mapping, responses and test
fakes all derive from these two definitions, so adding a content field is a change to
``RecordContent`` alone.

Example (the key is RFC 8032's first test key, as in tests/vectors/record_v1.json)::

    >>> from datetime import UTC, datetime
    >>> from cryptography.hazmat.primitives.asymmetric import ed25519
    >>> from shared.core.hashing import GENESIS_CHAIN_HASH
    >>> from shared.core.signing import LocalSigner
    >>> secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    >>> signer = LocalSigner.from_private_key(
    ...     ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)))
    >>> content = RecordContent(
    ...     tenant_id="acme", seq=1, entity_id="01a20fba-5779-709b-92a3-e727764cf77c",
    ...     version=1, entity_type="Industry", status="active",
    ...     data={"name": "Energy", "description": "Power"},
    ...     created_at=datetime(2026, 11, 24, 22, 24, 56, 123456, tzinfo=UTC),
    ...     created_by="svc-a", reason=None, supersedes=None,
    ... )
    >>> [record] = seal_records([content], previous_chain_hash=GENESIS_CHAIN_HASH,
    ...                         signer=signer)
    >>> record.content == content and record.canonical == content_bytes(content)
    True
    >>> VersionRecord.from_dict(record.to_dict()) == record
    True
    >>> RecordContent.from_canonical(record.canonical) == content
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.core import wire
from shared.core.canonical import canonicalize, parse_json
from shared.core.errors import InputError
from shared.core.hashing import chain_hash, leaf_hash
from shared.core.signing import Signer, sign_all

RECORD_FORMAT = "plant-registry/record/v1"
RECORD_SIGNATURE_FORMAT = "plant-registry/record-signature/v1"

# The content fields the record signature statement binds directly (besides the leaf
# hash, which binds all of them): where the record sits and when it was written.
STATEMENT_FIELDS = ("tenant_id", "seq", "entity_id", "version", "created_at")

# A 32-byte SHA-256 digest; travels as lowercase hex (other bytes travel as base64).
Digest = bytes


def _data(d: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = d.get(name)
    if not isinstance(value, Mapping):
        raise InputError(f"{name} must be an object", path=f"$.{name}")
    return dict(value)


def _timestamp(d: Mapping[str, Any], name: str) -> datetime:
    return wire.parse_timestamp(wire.field(d, name, str), path=f"$.{name}")


# How each field type of RecordContent and Seal is read from JSON. A new field of one of
# these types needs no entry; a field of a new type fails at import, not at run time.
_READERS: Mapping[str, Callable[[Mapping[str, Any], str], Any]] = {
    "str": lambda d, name: wire.field(d, name, str),
    "int": wire.nonneg_int,
    "str | None": lambda d, name: wire.optional(d, name, str),
    "int | None": lambda d, name: wire.optional(d, name, int),
    "datetime": _timestamp,
    "Mapping[str, Any]": _data,
    "bytes": lambda d, name: wire.b64decode(d.get(name), f"$.{name}"),
    "Digest": lambda d, name: wire.hex_digest(d.get(name), f"$.{name}"),
}


def _seal_value(kind: str, value: Any) -> object:
    if kind == "Digest":
        return value.hex()
    if kind == "bytes":
        return wire.b64encode(value)
    return value


def _to_json(value: object) -> object:
    if value is None or type(value) is str or type(value) is int:
        return value  # nearly every field: nothing to convert
    if isinstance(value, datetime):
        return wire.format_timestamp(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclasses.dataclass(frozen=True)
class RecordContent:
    """What a version says: every field of its canonical bytes except the format."""

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

    @property
    def content(self) -> RecordContent:
        """This value as plain content (a ``VersionRecord`` without its seal)."""
        return RecordContent(**{name: getattr(self, name) for name in CONTENT_FIELDS})

    def content_json(self) -> dict[str, Any]:
        """The content fields as JSON values (timestamps in their one fixed form)."""
        return {name: _to_json(getattr(self, name)) for name in CONTENT_FIELDS}

    @staticmethod
    def content_from_json(d: Mapping[str, Any]) -> RecordContent:
        """Strictly read the content fields of a JSON object (other members are ignored)."""
        d = wire.mapping(d)
        return RecordContent(**{f.name: _READERS[str(f.type)](d, f.name) for f in _CONTENT})

    @staticmethod
    def from_canonical(canonical: bytes) -> RecordContent:
        """The content stored bytes say; InputError unless they are a v1 record.

        Only the shape is checked here; whether the bytes are genuine is the verifier's
        question (leaf hash and signature), asked before anything is built on them.
        """
        document = wire.mapping(parse_json(canonical))
        if document.get("format") != RECORD_FORMAT:
            raise InputError(f"format must be {RECORD_FORMAT}", path="$.format")
        unknown = sorted(set(document) - {"format", *CONTENT_FIELDS})
        if unknown:
            raise InputError(f"unknown record field {unknown[0]}", path=f"$.{unknown[0]}")
        return RecordContent.content_from_json(document)


_CONTENT = dataclasses.fields(RecordContent)
CONTENT_FIELDS: tuple[str, ...] = tuple(f.name for f in _CONTENT)


@dataclasses.dataclass(frozen=True)
class Seal:
    """The evidence over a record's content: its bytes, hashes and signature."""

    canonical: bytes
    leaf_hash: Digest
    chain_hash: Digest
    signature: bytes
    key_id: str

    @property
    def seal(self) -> Seal:
        """This value as a plain seal (a ``VersionRecord`` without its content)."""
        return Seal(**{name: getattr(self, name) for name in SEAL_FIELDS})

    def seal_json(self) -> dict[str, Any]:
        """Digests as lowercase hex, other bytes as base64."""
        return {f.name: _seal_value(str(f.type), getattr(self, f.name)) for f in _SEAL}

    @staticmethod
    def seal_from_json(d: Mapping[str, Any]) -> Seal:
        """Strictly read the seal fields of a JSON object (other members are ignored)."""
        d = wire.mapping(d)
        return Seal(**{f.name: _READERS[str(f.type)](d, f.name) for f in _SEAL})


_SEAL = dataclasses.fields(Seal)
SEAL_FIELDS: tuple[str, ...] = tuple(f.name for f in _SEAL)
# Every field type must have a reader: a new type is caught when the module loads.
assert {str(f.type) for f in (*_CONTENT, *_SEAL)} <= set(_READERS)


@dataclasses.dataclass(frozen=True)
class VersionRecord(RecordContent, Seal):
    """One version of one entity, with the evidence that it is genuine and in the log."""

    @classmethod
    def of(cls, content: RecordContent, seal: Seal) -> VersionRecord:
        fields = {name: getattr(content, name) for name in CONTENT_FIELDS}
        return cls(**fields, **{name: getattr(seal, name) for name in SEAL_FIELDS})

    def signed_statement(self) -> bytes:
        """The statement ``signature`` should cover, rebuilt from this record's fields."""
        return signature_statement(self, self.leaf_hash, self.chain_hash, self.key_id)

    def to_dict(self) -> dict[str, Any]:
        return {**self.content_json(), **self.seal_json()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VersionRecord:
        return cls.of(RecordContent.content_from_json(d), Seal.seal_from_json(d))


def content_bytes(content: RecordContent) -> bytes:
    """The canonical bytes of a version record: the Merkle leaf input.

    The one function from content to bytes. The v1 format is the content fields plus
    ``"format": "plant-registry/record/v1"``, in RFC 8785 form (keys sorted), with
    ``created_at`` as ``format_timestamp`` writes it.
    """
    return _content_bytes(content.content_json())


def _content_bytes(fields: Mapping[str, object]) -> bytes:
    return canonicalize({"format": RECORD_FORMAT, **fields})


def signature_statement(
    content: RecordContent, leaf_hash: bytes, chain_hash: bytes, key_id: str
) -> bytes:
    """The canonical statement a record signature covers.

    It binds the content (through the leaf hash) and the whole history before it
    (through the chain hash), and names the key so a signature cannot be re-attributed.
    """
    fields = {name: _to_json(getattr(content, name)) for name in STATEMENT_FIELDS}
    return _statement(fields, leaf_hash, chain_hash, key_id)


def _statement(
    fields: Mapping[str, object], leaf_hash: bytes, chain_hash: bytes, key_id: str
) -> bytes:
    return canonicalize(
        {
            "format": RECORD_SIGNATURE_FORMAT,
            **{name: fields[name] for name in STATEMENT_FIELDS},
            "leaf_hash": leaf_hash.hex(),
            "chain_hash": chain_hash.hex(),
            "key_id": key_id,
        }
    )


def seal_records(
    items: Sequence[RecordContent], *, previous_chain_hash: bytes, signer: Signer
) -> list[VersionRecord]:
    """Canonicalise, hash and chain consecutive versions, then sign them all (the hot path).

    Chain hashes depend only on leaf hashes, so every statement is known before the first
    signature; ``sign_all`` lets a remote signer (Cloud KMS) sign them concurrently.
    """
    key_id = signer.key_id
    previous = previous_chain_hash
    sealed: list[tuple[RecordContent, bytes, bytes, bytes]] = []
    statements = []
    for item in items:
        # The content as JSON once: the record's bytes and its statement both use it.
        fields = item.content_json()
        canonical = _content_bytes(fields)
        leaf = leaf_hash(canonical)
        chain = chain_hash(previous, leaf)
        sealed.append((item, canonical, leaf, chain))
        statements.append(_statement(fields, leaf, chain, key_id))
        previous = chain
    signatures = sign_all(signer, statements)
    return [
        VersionRecord.of(item, Seal(canonical, leaf, chain, signature, key_id))
        for (item, canonical, leaf, chain), signature in zip(sealed, signatures, strict=True)
    ]


def seal_record(
    content: RecordContent, *, previous_chain_hash: bytes, signer: Signer
) -> VersionRecord:
    """Canonicalise, hash, chain and sign one new version."""
    return seal_records([content], previous_chain_hash=previous_chain_hash, signer=signer)[0]
