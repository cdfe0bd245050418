"""C2SP tlog-cosignature/v1 (Ed25519, signature type 0x04) and tlog-witness messages.

A witness cosigns a checkpoint once it has checked that the checkpoint extends the last
one it saw for that log. The cosignature is a note signature whose bytes are an 8-byte
big-endian timestamp followed by an Ed25519 signature over::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text>

Example (the log's side of ``add-checkpoint``)::

    body = add_checkpoint_request(old_size, consistency_proof, signed_checkpoint)
    # POST body to <witness>/add-checkpoint; on 200:
    cosignatures = parse_add_checkpoint_response(response_body)
    opened = open_cosigned(signed_checkpoint, cosignatures, [witness_verifier])
    # on 409: parse_conflict_size(response_body) is the size the witness holds

Both halves of the protocol's bodies are here (format and parse), pure, so the log's
client and the witness used in tests share one reading of the spec.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE
from shared.core.note import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    Note,
    NoteSignature,
    NoteVerifier,
    OpenedNote,
    format_vkey,
    key_id,
    open_note,
    parse_note,
    parse_signature_lines,
    parse_vkey,
    valid_key_name,
)

SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
# The spec caps the proof at 63 lines: a consistency proof never needs more.
MAX_PROOF_LINES = 63
CONFLICT_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def cosigned_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """The bytes an Ed25519 v1 cosignature signs."""
    return COSIGNATURE_HEADER.encode() + b"time %d\n" % timestamp + checkpoint_text


@dataclasses.dataclass(frozen=True)
class CosignatureVerifier:
    """A trusted witness key: a ``NoteVerifier`` for cosignature/v1 signature lines."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_key_name(self.name) or len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise InputError(f"bad witness key {self.name!r}", path="$.vkey")

    @property
    def key_id(self) -> int:
        return key_id(self.name, SIGNATURE_TYPE_COSIGNATURE_V1, self.public_key)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, SIGNATURE_TYPE_COSIGNATURE_V1, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        name, _, signature_type, public_key = parse_vkey(vkey)
        if signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
            raise InputError(
                f"witness key {name!r} is type {signature_type:#04x}, not cosignature/v1",
                path="$.vkey",
            )
        return cls(name, public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 8 + ED25519_SIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        key = ed25519.Ed25519PublicKey.from_public_bytes(self.public_key)
        try:
            key.verify(signature[8:], cosigned_message(text, timestamp))
        except InvalidSignature:
            return False
        return True


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX time a cosignature line says it was made."""
    return int.from_bytes(signature.signature[:8], "big")


@dataclasses.dataclass(frozen=True)
class Cosigner:
    """The witness's signing half; ``sign_raw`` is a local key or a key service."""

    name: str
    public_key: bytes
    sign_raw: Callable[[bytes], bytes]

    @classmethod
    def from_private_key(cls, name: str, key: ed25519.Ed25519PrivateKey) -> Cosigner:
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(name, raw, key.sign)

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    def cosign(self, checkpoint_text: bytes, timestamp: int) -> NoteSignature:
        """A cosignature line over the checkpoint text at ``timestamp`` (caller's clock)."""
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise InputError("a cosignature timestamp is a positive POSIX time")
        signature = self.sign_raw(cosigned_message(checkpoint_text, timestamp))
        return NoteSignature(
            self.name, self.verifier.key_id, timestamp.to_bytes(8, "big") + signature
        )


# --- add-checkpoint bodies ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note, as submitted


def add_checkpoint_request(old_size: int, proof: Sequence[bytes], checkpoint: bytes) -> bytes:
    """``old <size>``, one base64 proof hash per line, a blank line, the checkpoint."""
    if old_size < 0 or len(proof) > MAX_PROOF_LINES or (old_size == 0 and proof):
        raise InputError("old size >= 0, at most 63 proof hashes, none from size 0")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return "".join(lines).encode("ascii") + checkpoint


def _bad_request(detail: str) -> InputError:
    return InputError(f"malformed add-checkpoint request: {detail}", path="$.body")


def parse_add_checkpoint_request(body: bytes) -> AddCheckpointRequest:
    """The witness's reading of a request body; InputError (400) if it is malformed."""
    head, separator, checkpoint = body.partition(b"\n\n")
    if not separator:
        raise _bad_request("no blank line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise _bad_request("the header lines are not ASCII") from exc
    size = lines[0].removeprefix("old ")
    if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(size):
        raise _bad_request("the first line must be 'old <decimal size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _bad_request(f"more than {MAX_PROOF_LINES} proof lines")
    proof = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != HASH_SIZE:
            raise _bad_request("a proof line is not a base64 SHA-256 hash")
        proof.append(digest)
    return AddCheckpointRequest(int(size), tuple(proof), checkpoint)


def format_add_checkpoint_response(cosignatures: Sequence[NoteSignature]) -> bytes:
    return "".join(s.line() for s in cosignatures).encode("utf-8")


def parse_add_checkpoint_response(body: bytes) -> tuple[NoteSignature, ...]:
    """The signature lines of a 200 response; VerificationError if malformed."""
    try:
        return parse_signature_lines(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise VerificationError("witness response is not UTF-8", check="witness") from exc


def parse_conflict_size(body: bytes) -> int:
    """The witness's current size from a 409 body (``<decimal>\\n``)."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        raise VerificationError("witness 409 body is not a tree size", check="witness")
    return int(text[:-1])


def open_cosigned(
    checkpoint: bytes,
    cosignatures: Sequence[NoteSignature],
    witnesses: Sequence[NoteVerifier],
) -> OpenedNote:
    """Append ``cosignatures`` to the checkpoint and verify them with the witness keys.

    Unknown witnesses' lines are ignored, a trusted witness's bad line is an error, and
    at least one trusted cosignature must verify (the spec's note rules).
    """
    note = parse_note(checkpoint)
    combined = Note(note.text, (*note.signatures, *cosignatures))
    return open_note(combined.to_bytes(), witnesses)
