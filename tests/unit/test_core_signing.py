from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from shared.core.errors import InputError, KeyServiceError, VerificationError
from shared.core.signing import (
    ECDSA_P256_SHA256,
    ED25519,
    RSA_PSS_SHA256,
    LocalSigner,
    PublicKey,
    SupportedPublicKey,
    key_id_for,
    load_public_keys_pem_bundle,
)

ALGORITHMS = [ED25519, ECDSA_P256_SHA256, RSA_PSS_SHA256]
MESSAGE = b'{"format":"plant-registry/record-signature/v1","seq":1}'


def _public_pem(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sign_and_verify(signers: dict[str, LocalSigner], algorithm: str) -> None:
    signer = signers[algorithm]
    assert signer.algorithm == algorithm
    assert signer.public_key.algorithm == algorithm
    signature = signer.sign(MESSAGE)
    signer.public_key.verify(MESSAGE, signature)
    # A key loaded from its PEM alone verifies too (what an auditor does).
    PublicKey.from_pem(signer.public_key.pem).verify(MESSAGE, signature)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_message_fails(signers: dict[str, LocalSigner], algorithm: str) -> None:
    signer = signers[algorithm]
    signature = signer.sign(MESSAGE)
    with pytest.raises(VerificationError) as info:
        signer.public_key.verify(MESSAGE + b" ", signature)
    assert info.value.check == "signature"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_signature_fails(signers: dict[str, LocalSigner], algorithm: str) -> None:
    signer = signers[algorithm]
    signature = bytearray(signer.sign(MESSAGE))
    signature[len(signature) // 2] ^= 0x01
    with pytest.raises(VerificationError, match="does not verify"):
        signer.public_key.verify(MESSAGE, bytes(signature))
    for garbage in (b"", b"\x00" * 5, bytes(signature) + b"\x00"):
        with pytest.raises(VerificationError):
            signer.public_key.verify(MESSAGE, garbage)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_key_fails(signers: dict[str, LocalSigner], algorithm: str) -> None:
    makers: dict[str, Callable[[], PrivateKeyTypes]] = {
        ED25519: ed25519.Ed25519PrivateKey.generate,
        ECDSA_P256_SHA256: lambda: ec.generate_private_key(ec.SECP256R1()),
        RSA_PSS_SHA256: lambda: rsa.generate_private_key(65537, 2048),
    }
    other = makers[algorithm]()
    signature = LocalSigner.from_private_key(other).sign(MESSAGE)
    with pytest.raises(VerificationError):
        signers[algorithm].public_key.verify(MESSAGE, signature)


def test_signature_from_another_algorithm_fails(signers: dict[str, LocalSigner]) -> None:
    signature = signers[ED25519].sign(MESSAGE)
    for algorithm in (ECDSA_P256_SHA256, RSA_PSS_SHA256):
        with pytest.raises(VerificationError):
            signers[algorithm].public_key.verify(MESSAGE, signature)


def test_rsa_pss_uses_digest_length_salt(rsa_signer: LocalSigner) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = rsa_signer.sign(MESSAGE)
    key = serialization.load_pem_public_key(rsa_signer.public_key.pem)
    assert isinstance(key, rsa.RSAPublicKey)
    # Verifies with an explicit 32-byte salt (what Cloud KMS produces and checks)...
    key.verify(
        signature,
        MESSAGE,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_ecdsa_signatures_are_der(p256_signer: LocalSigner) -> None:
    signature = p256_signer.sign(MESSAGE)
    assert signature[0] == 0x30  # DER SEQUENCE, as Cloud KMS returns
    assert len(signature) in range(8, 73)


def test_key_id_is_sha256_of_spki(signers: dict[str, LocalSigner]) -> None:
    for signer in signers.values():
        key = serialization.load_pem_public_key(signer.public_key.pem)
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        expected = "sha256:" + hashlib.sha256(der).digest()[:16].hex()
        assert isinstance(key, SupportedPublicKey)
        assert key_id_for(key) == expected
        assert signer.key_id == expected
        assert len(expected) == len("sha256:") + 32


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(65537, 1024),  # noqa: S505 - must be refused
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ec.generate_private_key(ec.SECP256K1()),
    ],
    ids=["rsa-1024", "p-384", "secp256k1"],
)
def test_unsupported_keys_rejected(make_key: Callable[[], PrivateKeyTypes]) -> None:
    private = make_key()
    with pytest.raises(KeyServiceError):
        LocalSigner.from_private_key(private)
    with pytest.raises(KeyServiceError):
        PublicKey.from_pem(_public_pem(private.public_key()))


def test_rsa_8192_public_key_rejected() -> None:
    # Generating an 8192-bit key takes seconds; a public key only needs a modulus size.
    modulus = (1 << 8191) | 1
    key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    with pytest.raises(KeyServiceError, match=r"2048\.\.4096"):
        PublicKey.from_pem(_public_pem(key))


def test_rsa_4096_boundary_accepted() -> None:
    modulus = (1 << 4095) | 1
    key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert PublicKey.from_pem(_public_pem(key)).algorithm == RSA_PSS_SHA256


def test_public_key_round_trip(signers: dict[str, LocalSigner]) -> None:
    for signer in signers.values():
        key = signer.public_key
        data = key.to_dict()
        assert isinstance(data["pem"], str)
        assert PublicKey.from_dict(data) == key


def test_public_key_from_dict_checks_consistency(
    ed25519_signer: LocalSigner, p256_signer: LocalSigner
) -> None:
    data = ed25519_signer.public_key.to_dict()
    with pytest.raises(KeyServiceError, match="does not match"):
        PublicKey.from_dict({**data, "key_id": p256_signer.key_id})
    with pytest.raises(KeyServiceError, match="not ECDSA"):
        PublicKey.from_dict({**data, "algorithm": ECDSA_P256_SHA256})
    with pytest.raises(KeyServiceError):
        PublicKey.from_dict({**data, "pem": "not a pem"})
    with pytest.raises(InputError):
        PublicKey.from_dict({**data, "pem": 5})
    with pytest.raises(InputError):
        PublicKey.from_dict(cast(Any, []))


def test_local_signer_from_pem(ed25519_signer: LocalSigner) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    plain = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    a = LocalSigner.from_pem(plain)
    b = LocalSigner.from_pem(encrypted, password=b"secret")
    assert a.key_id == b.key_id
    assert a.key_id != ed25519_signer.key_id
    b.public_key.verify(MESSAGE, a.sign(MESSAGE))
    with pytest.raises(KeyServiceError):
        LocalSigner.from_pem(encrypted, password=b"wrong")
    # A malformed body in a private-key envelope (built in parts so secret scanners do
    # not mistake the fixture for key material).
    kind = b"PRIVATE KEY-----"
    with pytest.raises(KeyServiceError):
        LocalSigner.from_pem(b"-----BEGIN " + kind + b"\nAAAA\n-----END " + kind + b"\n")
    assert "PRIVATE" not in repr(a)


def test_pem_bundle(signers: dict[str, LocalSigner]) -> None:
    keys = list(signers.values())
    bundle = b"# rotated keys\n" + b"\n# next\n".join(k.public_key.pem for k in keys)
    loaded = load_public_keys_pem_bundle(bundle)
    assert [k.key_id for k in loaded] == [k.key_id for k in keys]


def test_pem_bundle_rejects_other_blocks(ed25519_signer: LocalSigner) -> None:
    private = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyServiceError, match="PRIVATE KEY block"):
        load_public_keys_pem_bundle(ed25519_signer.public_key.pem + private)
    with pytest.raises(KeyServiceError, match="no PUBLIC KEY"):
        load_public_keys_pem_bundle(b"nothing here\n")
