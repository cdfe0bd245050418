"""C2SP signed-note: text signed by one or more keys, byte for byte as c2sp.org/signed-note.

A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> base64(key ID ‖ signature)``. The key ID is the first four bytes of
SHA-256(name ‖ 0x0A ‖ signature type ‖ public key). Keys travel as *verifier key*
strings ``<name>+<hex key ID>+base64(signature type ‖ public key)``.

Example::

    signer = Ed25519NoteSigner.from_private_key("example.com/log", private_key)
    message = sign_note("hello\\n", [signer])
    verifier = Ed25519NoteVerifier.from_vkey(signer.verifier.vkey)
    note = open_note(message, [verifier])
    assert note.text == "hello\\n" and note.verified[0].name == "example.com/log"

Verification follows the spec's unknown-key rule: a signature whose (name, key ID) pair
matches no trusted key is ignored (kept in ``unverified``); one that matches a trusted
key must verify, or the whole note is rejected; and a note with no verified signature
from a trusted key is rejected. ``Ed25519NoteVerifier`` is signature type 0x01; the
witness cosignature type 0x04 lives in ``shared.core.witness`` behind the same
``NoteVerifier`` protocol.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import sha256

SIGNATURE_TYPE_ED25519 = 0x01
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
SIGNATURE_PREFIX = "— "
# The spec asks verifiers for a limit of at least 16 signatures; Go's note package
# stops at 100, and so do we.
MAX_SIGNATURES = 100

# Unicode spaces (str.isspace covers every White_Space code point) and "+" are banned.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def valid_key_name(name: str) -> bool:
    """A key name is non-empty and has no Unicode space and no plus sign."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """SHA-256(name ‖ 0x0A ‖ signature type ‖ public key)[:4], as a big-endian uint32."""
    digest = sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key)
    return int.from_bytes(digest[:4], "big")


def format_vkey(name: str, signature_type: int, public_key: bytes) -> str:
    """The verifier key string ``name+hex(key ID)+base64(type ‖ key)``."""
    encoded = base64.b64encode(bytes([signature_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, signature_type, public_key):08x}+{encoded}"


def parse_vkey(vkey: str) -> tuple[str, int, int, bytes]:
    """Split a verifier key into (name, key ID, signature type, public key); InputError."""
    # Only the first two pluses separate: base64 has its own "+" characters.
    parts = vkey.split("+", 2)
    if (
        len(parts) != 3
        or not valid_key_name(parts[0])
        or not re.fullmatch(r"[0-9a-f]{8}", parts[1])
    ):
        raise InputError(f"{vkey!r} is not a verifier key name+hash+base64", path="$.vkey")
    name, hash_hex, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
    except binascii.Error as exc:
        raise InputError(f"verifier key {name!r} has bad base64", path="$.vkey") from exc
    if not raw:
        raise InputError(f"verifier key {name!r} has no key material", path="$.vkey")
    if key_id(name, raw[0], raw[1:]) != int(hash_hex, 16):
        raise InputError(f"verifier key {name!r}: key ID does not match the key", path="$.vkey")
    return name, int(hash_hex, 16), raw[0], raw[1:]


@dataclasses.dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature)
        return f"{SIGNATURE_PREFIX}{self.name} {encoded.decode('ascii')}\n"


@dataclasses.dataclass(frozen=True)
class Note:
    """A parsed note: its text (with the final newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")


@dataclasses.dataclass(frozen=True)
class OpenedNote:
    """A note whose trusted signatures all verified; ``unverified`` are unknown keys'."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


class NoteVerifier(Protocol):
    """A trusted key: its name, its key ID, and a check of a signature over note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


def _malformed(detail: str) -> VerificationError:
    return VerificationError(f"malformed note: {detail}", check="note")


def parse_signature_lines(block: str) -> tuple[NoteSignature, ...]:
    """Parse newline-terminated ``— name base64`` lines (a note's tail, a witness reply)."""
    if not block.endswith("\n"):
        raise _malformed("the signature lines must end with a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise _malformed(f"{line[:40]!r} is not a signature line")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raw = b""
        if not valid_key_name(name) or len(raw) < 5:
            raise _malformed(f"bad signature line for key {name[:40]!r}")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
        if len(signatures) > MAX_SIGNATURES:
            raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    return tuple(signatures)


def parse_note(message: bytes) -> Note:
    """Split a note into text and signatures; VerificationError(check="note") if malformed."""
    try:
        decoded = message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed("not UTF-8") from exc
    if _CONTROL.search(decoded):
        raise _malformed("control characters other than newline")
    # The text ends at the *last* blank line: the text itself may contain blank lines.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block:
        raise _malformed("no signature lines")
    return Note(text, parse_signature_lines(block))


def open_note(message: bytes, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Parse ``message`` and check it against ``verifiers``, per the unknown-key rule."""
    note = parse_note(message)
    trusted = {(v.name, v.key_id): v for v in verifiers}
    text = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for signature in note.signatures:
        verifier = trusted.get((signature.name, signature.key_id))
        if verifier is None:
            unverified.append(signature)
            continue
        if not verifier.verify(text, signature.signature):
            raise VerificationError(
                f"the signature by trusted key {signature.name} "
                f"({signature.key_id:08x}) does not verify",
                check="note-signature",
                key=signature.name,
            )
        if signature not in verified:
            verified.append(signature)
    if not verified:
        raise VerificationError(
            "no signature by a trusted key: "
            + (", ".join(sorted({s.name for s in note.signatures})) or "none"),
            check="note-signature",
            expected=sorted(v.name for v in verifiers),
        )
    return OpenedNote(note.text, tuple(verified), tuple(unverified))


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise InputError("note text must end with a newline and hold no control characters")


def sign_note(text: str, signers: Sequence[Ed25519NoteSigner]) -> bytes:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    return Note(text, tuple(s.sign(text.encode("utf-8")) for s in signers)).to_bytes()


def _raw_public_key(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclasses.dataclass(frozen=True)
class Ed25519NoteVerifier:
    """A trusted Ed25519 note key (signature type 0x01)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_key_name(self.name) or len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise InputError(f"bad Ed25519 note key {self.name!r}", path="$.vkey")

    @property
    def key_id(self) -> int:
        return key_id(self.name, SIGNATURE_TYPE_ED25519, self.public_key)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, SIGNATURE_TYPE_ED25519, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Ed25519NoteVerifier:
        name, _, signature_type, public_key = parse_vkey(vkey)
        if signature_type != SIGNATURE_TYPE_ED25519:
            raise InputError(
                f"verifier key {name!r} is type {signature_type:#04x}, not Ed25519 (0x01)",
                path="$.vkey",
            )
        return cls(name, public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclasses.dataclass(frozen=True)
class Ed25519NoteSigner:
    """Signs note text with an Ed25519 key; ``sign_raw`` may be a local key or a KMS call."""

    name: str
    public_key: bytes
    sign_raw: Callable[[bytes], bytes]

    @classmethod
    def from_private_key(cls, name: str, key: ed25519.Ed25519PrivateKey) -> Ed25519NoteSigner:
        return cls(name, _raw_public_key(key.public_key()), key.sign)

    @property
    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self.name, self.public_key)

    def sign(self, text: bytes) -> NoteSignature:
        signature = self.sign_raw(text)
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise InputError(f"an Ed25519 signature is 64 bytes, not {len(signature)}")
        return NoteSignature(self.name, self.verifier.key_id, signature)
