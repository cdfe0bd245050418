"""Signatures over canonical statements: Ed25519, ECDSA P-256 and RSA-PSS (SHA-256).

The algorithm is derived from the key type, never chosen by the data, so a signature
can only be checked the way its key allows. Verification raises, never returns False.

Example (key bytes are a parameter; here RFC 8032's first Ed25519 test key)::

    >>> from cryptography.hazmat.primitives.asymmetric import ed25519
    >>> secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    >>> signer = LocalSigner.from_private_key(
    ...     ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)))
    >>> signature = signer.sign(b"statement")
    >>> signer.public_key.verify(b"statement", signature)
    >>> signer.public_key.verify(b"another statement", signature)
    Traceback (most recent call last):
    ...
    shared.core.errors.VerificationError: ...
    >>> [key.key_id for key in load_public_keys_pem_bundle(signer.public_key.pem)] == [
    ...     signer.key_id]
    True

Private-key generation lives in ``shared.keys`` because it needs randomness. ECDSA and
RSA-PSS signing draw nonces and salts from the OS inside ``cryptography``; the outputs
are still verified deterministically, which is what the pure core promises.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from shared.core.errors import InputError, KeyServiceError, VerificationError
from shared.core.hashing import sha256

ED25519 = "Ed25519"
ECDSA_P256_SHA256 = "ECDSA_P256_SHA256"
RSA_PSS_SHA256 = "RSA_PSS_SHA256"

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 4096
# Salt length equal to the digest length is what Cloud KMS RSA_SIGN_PSS_*_SHA256 uses,
# so local and KMS signatures are interchangeable.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_ECDSA = ec.ECDSA(hashes.SHA256())

SupportedPublicKey: TypeAlias = (
    ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
)
SupportedPrivateKey: TypeAlias = (
    ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
)

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)


def _algorithm_for(key: SupportedPublicKey | object) -> str:
    """Map a public key to our algorithm name, refusing anything outside the allow-list."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return ECDSA_P256_SHA256
        raise KeyServiceError(f"elliptic curve {key.curve.name} is not supported; use P-256")
    if isinstance(key, rsa.RSAPublicKey):
        if RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
            return RSA_PSS_SHA256
        raise KeyServiceError(
            f"RSA keys must be {RSA_MIN_BITS}..{RSA_MAX_BITS} bits, not {key.key_size}"
        )
    raise KeyServiceError(f"{type(key).__name__} keys are not supported")


def _spki_der(key: SupportedPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id_for(public_key: SupportedPublicKey) -> str:
    """Stable key id: "sha256:" + hex of the first 16 bytes of SHA-256(SPKI DER)."""
    return "sha256:" + sha256(_spki_der(public_key))[:16].hex()


def _load_public_pem(pem: bytes) -> SupportedPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyServiceError(f"not a PEM public key: {exc}") from exc
    _algorithm_for(key)
    return key  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """A verification key with its id and algorithm; ``pem`` is the SPKI PEM.

    Constructing one checks that the PEM parses, the algorithm matches the key type and
    the key id matches the key, so a ``PublicKey`` read from anywhere is self-consistent.
    """

    key_id: str
    algorithm: str
    pem: bytes
    # The parsed key is cached because parsing PEM costs more than verifying.
    _key: SupportedPublicKey = dataclasses.field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        key = _load_public_pem(self.pem)
        algorithm = _algorithm_for(key)
        if algorithm != self.algorithm:
            raise KeyServiceError(f"key {self.key_id} is an {algorithm} key, not {self.algorithm}")
        actual_id = key_id_for(key)
        if actual_id != self.key_id:
            raise KeyServiceError(f"key id {self.key_id} does not match the key ({actual_id})")
        object.__setattr__(self, "_key", key)

    @classmethod
    def from_key(cls, key: SupportedPublicKey) -> PublicKey:
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(key_id=key_id_for(key), algorithm=_algorithm_for(key), pem=pem)

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        """Load a SPKI PEM; the algorithm comes from the key type."""
        return cls.from_key(_load_public_pem(pem))

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise VerificationError(check="signature") unless ``signature`` is valid."""
        key = self._key
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, message)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, message, _ECDSA)
            else:
                key.verify(signature, message, _PSS, hashes.SHA256())
        except (InvalidSignature, ValueError, TypeError) as exc:
            # Malformed DER or wrong-length signatures are just invalid signatures.
            raise VerificationError(
                f"signature does not verify with key {self.key_id}",
                check="signature",
                key_id=self.key_id,
            ) from exc

    def raw_ed25519(self) -> bytes:
        """The 32-byte RFC 8032 encoding of an Ed25519 key (signed notes carry it)."""
        if not isinstance(self._key, ed25519.Ed25519PublicKey):
            raise InputError(f"key {self.key_id} is not an Ed25519 key")
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "algorithm": self.algorithm, "pem": self.pem.decode()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicKey:
        if not isinstance(data, Mapping):
            raise InputError("public key must be an object")
        fields = {}
        for name in ("key_id", "algorithm", "pem"):
            value = data.get(name)
            if not isinstance(value, str):
                raise InputError(f"{name} must be a string", path=f"$.{name}")
            fields[name] = value
        return cls(
            key_id=fields["key_id"],
            algorithm=fields["algorithm"],
            pem=fields["pem"].encode(),
        )


class Signer(Protocol):
    """Anything that signs with a key whose public half is known (local PEM, Cloud KMS)."""

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


class LocalSigner:
    """Signs with a private key held in memory (dev key file or SIGNING_KEY_FILE)."""

    __slots__ = ("_private_key", "public_key")

    def __init__(self, private_key: SupportedPrivateKey) -> None:
        self._private_key = private_key
        self.public_key = PublicKey.from_key(private_key.public_key())

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    @property
    def algorithm(self) -> str:
        return self.public_key.algorithm

    @classmethod
    def from_private_key(cls, key: object) -> LocalSigner:
        if not isinstance(
            key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        ):
            raise KeyServiceError(f"{type(key).__name__} keys are not supported")
        return cls(key)

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> LocalSigner:
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The message never includes key material, only why loading failed.
            raise KeyServiceError(f"cannot load the private signing key: {exc}") from exc
        return cls.from_private_key(key)

    def sign(self, message: bytes) -> bytes:
        key = self._private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(message, _ECDSA)
        return key.sign(message, _PSS, hashes.SHA256())

    def __repr__(self) -> str:
        return f"LocalSigner(key_id={self.key_id!r}, algorithm={self.algorithm!r})"


def sign_all(signer: Signer, messages: Sequence[bytes]) -> list[bytes]:
    """Sign every message, in order; a signer with ``sign_many`` may do so concurrently.

    Local keys sign in microseconds, but each Cloud KMS signature is a network round trip,
    so a batch of a thousand records must not wait for a thousand of them in sequence.
    """
    sign_many = getattr(signer, "sign_many", None)
    if sign_many is not None and len(messages) > 1:
        signatures: list[bytes] = list(sign_many(messages))
        if len(signatures) != len(messages):
            raise KeyServiceError("the signer returned a different number of signatures")
        return signatures
    return [signer.sign(message) for message in messages]


def load_public_keys_pem_bundle(data: bytes) -> list[PublicKey]:
    """Every ``PUBLIC KEY`` block in a PEM bundle, in file order.

    Text between blocks (comments) is ignored; any other block type is refused, so a
    certificate or private key put there by mistake is noticed.
    """
    keys: list[PublicKey] = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1).decode()
        if label != "PUBLIC KEY":
            raise KeyServiceError(f"trusted key bundle contains a {label} block")
        keys.append(PublicKey.from_pem(match.group(0)))
    if not keys:
        raise KeyServiceError("trusted key bundle contains no PUBLIC KEY block")
    return keys
