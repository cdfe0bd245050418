"""Signed checkpoints and Merkle proofs: what a tenant's tree is proven with, as values.

A checkpoint is a signed statement of the tenant's log at one size; inclusion and
consistency proofs are the RFC 9162 audit paths checked against one.

Checkpoints are C2SP tlog-checkpoint bodies in a signed note (docs/adr/0010): the note
text is the tenant's log origin, the tree size and the base64 root, signed by the log's
Ed25519 checkpoint key twice under the origin as key name: a note signature (type 0x01,
what tlog-tiles clients verify) and a timestamped tlog-cosignature/v1 (type 0x04), which
carries the signing time. Nothing of our own is inside the note. The chain head travels
beside the note: it is a function of the leaves the root commits to, so it needs no
signature of its own.

Example::

    key = CheckpointSigner("registry.example.com/plant", public_key, private_key.sign)
    checkpoint = sign_checkpoint(tenant_id="acme", tree_size=1, root_hash=record.leaf_hash,
                                 chain_head=record.chain_hash, created_at=now, signer=key)
    checkpoint.note          # b"registry.example.com/plant/acme\\n1\\n<root>\\n\\n— ..."
    verify_checkpoint(checkpoint, {key.key_id: key.public_key})   # shared.core.verification
    assert Checkpoint.from_dict(checkpoint.to_dict()) == checkpoint

Checkpoints signed before the switch are canonical JSON statements signed by the record
key (``CHECKPOINT_FORMAT``, ``note`` is None); they still verify, and ``sign_checkpoint``
still makes one when handed a record ``Signer`` rather than a ``CheckpointSigner``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.core import wire
from shared.core.canonical import canonicalize
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE
from shared.core.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    OpenedNote,
    open_note,
    parse_note,
)
from shared.core.signing import ED25519, PublicKey, Signer
from shared.core.tlog import TreeHead, origin_tenant, tenant_origin
from shared.core.witness import CosignatureVerifier, Cosigner, cosignature_timestamp

CHECKPOINT_FORMAT = "plant-registry/checkpoint/v1"
NOTE_CHECKPOINT_FORMAT = "c2sp.org/tlog-checkpoint"


# --- the checkpoint key -------------------------------------------------------------


class CheckpointSigner:
    """The log's Ed25519 checkpoint key; each tenant's log signs under its own origin.

    ``sign_raw`` signs bytes with the private key: a local key's ``sign`` or a Cloud KMS
    EC_SIGN_ED25519 call. It is also a ``Signer`` (raw Ed25519), so code that passes a
    signer around carries this one unchanged.
    """

    def __init__(
        self, log_origin: str, public_key: PublicKey, sign_raw: Callable[[bytes], bytes]
    ) -> None:
        if public_key.algorithm != ED25519:
            raise InputError(f"a checkpoint key is Ed25519, not {public_key.algorithm}")
        self.log_origin = log_origin
        self.public_key = public_key
        self._sign_raw = sign_raw
        self.raw_public_key = raw_ed25519_key(public_key)
        tenant_origin(log_origin, "probe")  # a bad prefix fails here, not at first use

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    @property
    def algorithm(self) -> str:
        return ED25519

    def sign(self, message: bytes) -> bytes:
        return self._sign_raw(message)

    def origin(self, tenant_id: str) -> str:
        return tenant_origin(self.log_origin, tenant_id)

    def note_signer(self, tenant_id: str) -> Ed25519NoteSigner:
        return Ed25519NoteSigner(self.origin(tenant_id), self.raw_public_key, self._sign_raw)

    def cosigner(self, tenant_id: str) -> Cosigner:
        return Cosigner(self.origin(tenant_id), self.raw_public_key, self._sign_raw)

    def vkey(self, tenant_id: str) -> str:
        """The tenant log's verifier key, ``<origin>+<key ID>+<base64>`` (sumdb/note)."""
        return self.note_signer(tenant_id).verifier.vkey

    def __repr__(self) -> str:
        return f"CheckpointSigner(log_origin={self.log_origin!r}, key_id={self.key_id!r})"


def raw_ed25519_key(public_key: PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of an Ed25519 ``PublicKey``; InputError otherwise."""
    return public_key.raw_ed25519()


# --- checkpoints --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A signed statement of a tenant's log at a size.

    ``note`` is the C2SP signed note; ``tree_size``, ``root_hash`` and ``created_at`` are
    what it says (``verify_checkpoint`` holds them to it) and ``signature`` is empty. A
    checkpoint from before the switch has no note and a ``signature`` over
    ``statement()`` by the record key ``key_id``.
    """

    tenant_id: str
    tree_size: int
    root_hash: bytes
    chain_head: bytes
    created_at: datetime
    key_id: str
    signature: bytes
    note: bytes | None = None

    @property
    def origin(self) -> str | None:
        """The log origin of a note checkpoint (the note's first line); None for JSON."""
        if self.note is None:
            return None
        return parse_note(self.note).text.partition("\n")[0]

    def statement(self) -> bytes:
        """The canonical JSON a pre-note checkpoint's signature covers."""
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
        common = {
            "tenant_id": self.tenant_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "chain_head": self.chain_head.hex(),
            "created_at": wire.format_timestamp(self.created_at),
            "key_id": self.key_id,
        }
        if self.note is not None:
            return {
                "format": NOTE_CHECKPOINT_FORMAT,
                **common,
                "origin": self.origin,
                "note": self.note.decode("utf-8"),
            }
        return {"format": CHECKPOINT_FORMAT, **common, "signature": wire.b64encode(self.signature)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        d = wire.mapping(d)
        kind = d.get("format", CHECKPOINT_FORMAT)
        if kind not in (CHECKPOINT_FORMAT, NOTE_CHECKPOINT_FORMAT):
            raise InputError(
                f"format must be {NOTE_CHECKPOINT_FORMAT} or {CHECKPOINT_FORMAT}", path="$.format"
            )
        note = None
        signature = b""
        if kind == NOTE_CHECKPOINT_FORMAT:
            note = wire.field(d, "note", str).encode("utf-8")
        else:
            signature = wire.b64decode(d.get("signature"), "$.signature")
        return cls(
            tenant_id=wire.field(d, "tenant_id", str),
            tree_size=wire.nonneg_int(d, "tree_size"),
            root_hash=wire.hex_digest(d.get("root_hash"), "$.root_hash"),
            chain_head=wire.hex_digest(d.get("chain_head"), "$.chain_head"),
            created_at=wire.parse_timestamp(wire.field(d, "created_at", str)),
            key_id=wire.field(d, "key_id", str),
            signature=signature,
            note=note,
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
    """Sign the tenant's tree at ``tree_size``: a note with a ``CheckpointSigner``.

    The note's cosignature time is whole seconds, so ``created_at`` is truncated to the
    second it states. Any other ``Signer`` makes a pre-note JSON checkpoint.
    """
    if len(root_hash) != HASH_SIZE or len(chain_head) != HASH_SIZE:
        raise ValueError("checkpoint root and chain head must be 32-byte digests")
    if isinstance(signer, CheckpointSigner):
        return _sign_note_checkpoint(
            tenant_id=tenant_id,
            tree_size=tree_size,
            root_hash=root_hash,
            chain_head=chain_head,
            created_at=created_at,
            key=signer,
        )
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


def _sign_note_checkpoint(
    *,
    tenant_id: str,
    tree_size: int,
    root_hash: bytes,
    chain_head: bytes,
    created_at: datetime,
    key: CheckpointSigner,
) -> Checkpoint:
    signed_at = created_at.astimezone(UTC).replace(microsecond=0)
    text = TreeHead(key.origin(tenant_id), tree_size, root_hash).text()
    raw = text.encode("utf-8")
    signatures = (
        key.note_signer(tenant_id).sign(raw),
        key.cosigner(tenant_id).cosign(raw, int(signed_at.timestamp())),
    )
    return Checkpoint(
        tenant_id=tenant_id,
        tree_size=tree_size,
        root_hash=root_hash,
        chain_head=chain_head,
        created_at=signed_at,
        key_id=key.key_id,
        signature=b"",
        note=Note(text, signatures).to_bytes(),
    )


def open_note_checkpoint(checkpoint: Checkpoint, key: PublicKey) -> OpenedNote:
    """Raise VerificationError unless the note is the tenant's, signed by ``key``, and
    says exactly the checkpoint's size, root and time."""
    if checkpoint.note is None:
        raise ValueError("not a note checkpoint")
    try:
        raw = raw_ed25519_key(key)
    except InputError as exc:
        raise VerificationError(
            f"checkpoint key {key.key_id} is not an Ed25519 key", check="checkpoint_key"
        ) from exc
    origin = parse_note(checkpoint.note).text.partition("\n")[0]
    if origin_tenant(origin) != checkpoint.tenant_id:
        raise VerificationError(
            f"the checkpoint note is for log {origin!r}, not tenant {checkpoint.tenant_id!r}",
            check="checkpoint_origin",
            expected=checkpoint.tenant_id,
            found=origin,
        )
    log = Ed25519NoteVerifier(origin, raw)
    clock = CosignatureVerifier(origin, raw)
    opened = open_note(checkpoint.note, [log, clock])
    head = TreeHead.parse(opened.text)
    times = [cosignature_timestamp(s) for s in opened.verified if s.key_id == clock.key_id]
    stated = (head.size, head.root_hash, times)
    expected = (
        checkpoint.tree_size,
        checkpoint.root_hash,
        [int(checkpoint.created_at.timestamp())],
    )
    if not any(s.key_id == log.key_id for s in opened.verified) or stated != expected:
        raise VerificationError(
            f"the checkpoint note does not state tree size {checkpoint.tree_size}, its root "
            "and its time, each signed by the log key",
            check="checkpoint_note",
            expected=[checkpoint.tree_size, checkpoint.root_hash.hex(), expected[2]],
            found=[head.size, head.root_hash.hex(), times],
        )
    return opened


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
