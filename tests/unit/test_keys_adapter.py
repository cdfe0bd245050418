from __future__ import annotations

import base64
import hashlib
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from shared import keys
from shared.core.errors import KeyServiceError
from shared.core.signing import (
    ECDSA_P256_SHA256,
    ED25519,
    RSA_PSS_SHA256,
    LocalSigner,
    PublicKey,
    sign_all,
)
from shared.keys import (
    KMS_CONCURRENT_SIGNATURES,
    KmsSigner,
    crc32c,
    ensure_dev_checkpoint_key,
    ensure_dev_signing_key,
    generate_ed25519_private_key_pem,
    load_checkpoint_signer,
    load_signer,
    load_trusted_keys,
)
from shared.settings import DEV_LOG_ORIGIN, Settings

KEY_VERSION = "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"


@dataclass
class FakeResponse:
    status_code: int
    body: Any

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


@dataclass
class FakeKms:
    """Implements the two KMS REST calls with a local private key, as KMS would."""

    private_key: Any
    kms_algorithm: str
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None
    status: int = 200
    corrupt_signature_crc: bool = False
    corrupt_pem_crc: bool = False
    echo_verified: bool = True

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.requests.append(("GET", url, kwargs))
        assert kwargs.get("timeout")
        if self.fail_with:
            raise self.fail_with
        pem = (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        crc = crc32c(pem.encode()) ^ (1 if self.corrupt_pem_crc else 0)
        return FakeResponse(
            self.status,
            {
                "pem": pem,
                "algorithm": self.kms_algorithm,
                "pemCrc32c": str(crc),
                "name": KEY_VERSION,
            },
        )

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.requests.append(("POST", url, kwargs))
        if self.fail_with:
            raise self.fail_with
        body = kwargs["json"]
        key = self.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            data = base64.b64decode(body["data"])
            assert int(body["dataCrc32c"]) == crc32c(data)
            signature = key.sign(data)
            flag = "verifiedDataCrc32c"
        else:
            digest = base64.b64decode(body["digest"]["sha256"])
            assert len(digest) == 32
            assert int(body["digestCrc32c"]) == crc32c(digest)
            from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

            if isinstance(key, ec.EllipticCurvePrivateKey):
                signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                signature = key.sign(
                    digest,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    Prehashed(hashes.SHA256()),
                )
            flag = "verifiedDigestCrc32c"
        crc = crc32c(signature) ^ (1 if self.corrupt_signature_crc else 0)
        return FakeResponse(
            self.status,
            {
                "signature": base64.b64encode(signature).decode(),
                "signatureCrc32c": str(crc),
                flag: self.echo_verified,
                "name": KEY_VERSION,
            },
        )


def test_crc32c_known_answer() -> None:
    # The standard CRC-32C check value (RFC 3720 appendix B.4 uses the same polynomial).
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


@pytest.mark.parametrize(
    ("make_key", "kms_algorithm", "ours"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "EC_SIGN_P256_SHA256", ECDSA_P256_SHA256),
        (lambda: rsa.generate_private_key(65537, 2048), "RSA_SIGN_PSS_2048_SHA256", RSA_PSS_SHA256),
        (lambda: rsa.generate_private_key(65537, 3072), "RSA_SIGN_PSS_3072_SHA256", RSA_PSS_SHA256),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "EC_SIGN_ED25519", ED25519),
    ],
    ids=["p256", "rsa-pss-2048", "rsa-pss-3072", "ed25519"],
)
def test_kms_signer_signs_verifiably(make_key: Any, kms_algorithm: str, ours: str) -> None:
    fake = FakeKms(make_key(), kms_algorithm)
    signer = KmsSigner(KEY_VERSION, session=fake)
    assert signer.algorithm == ours
    assert signer.key_id == PublicKey.from_key(fake.private_key.public_key()).key_id
    message = b"statement to sign"
    signature = signer.sign(message)
    signer.public_key.verify(message, signature)
    method, url, kwargs = fake.requests[-1]
    assert (method, url) == (
        "POST",
        f"https://cloudkms.googleapis.com/v1/{KEY_VERSION}:asymmetricSign",
    )
    if ours != ED25519:
        sent = base64.b64decode(kwargs["json"]["digest"]["sha256"])
        assert sent == hashlib.sha256(message).digest()
    assert fake.requests[0][1] == f"https://cloudkms.googleapis.com/v1/{KEY_VERSION}/publicKey"
    # The public key is fetched once, not per signature.
    signer.sign(message)
    assert [m for m, _, _ in fake.requests].count("GET") == 1


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_kms_unsupported_algorithm(p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(KeyServiceError, match="not supported"):
        KmsSigner(KEY_VERSION, session=FakeKms(p256_key, "EC_SIGN_SECP256K1_SHA256"))
    with pytest.raises(KeyServiceError, match="not supported"):
        KmsSigner(KEY_VERSION, session=FakeKms(p256_key, "RSA_SIGN_PKCS1_2048_SHA256"))


def test_kms_algorithm_must_match_key(p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(KeyServiceError, match="says"):
        KmsSigner(KEY_VERSION, session=FakeKms(p256_key, "RSA_SIGN_PSS_2048_SHA256"))


@pytest.mark.parametrize(
    "exc",
    [requests.ConnectionError("down"), requests.Timeout("slow"), RuntimeError("refresh failed")],
)
def test_kms_transport_errors_translated(p256_key: Any, exc: Exception) -> None:
    with pytest.raises(KeyServiceError) as info:
        KmsSigner(KEY_VERSION, session=FakeKms(p256_key, "EC_SIGN_P256_SHA256", fail_with=exc))
    assert info.value.__cause__ is exc
    fake = FakeKms(p256_key, "EC_SIGN_P256_SHA256")
    signer = KmsSigner(KEY_VERSION, session=fake)
    fake.fail_with = exc
    with pytest.raises(KeyServiceError) as info:
        signer.sign(b"m")
    assert info.value.__cause__ is exc


@pytest.mark.parametrize("status", [400, 403, 404, 429, 500, 503])
def test_kms_http_errors_translated(p256_key: Any, status: int) -> None:
    with pytest.raises(KeyServiceError, match=f"HTTP {status}"):
        KmsSigner(KEY_VERSION, session=FakeKms(p256_key, "EC_SIGN_P256_SHA256", status=status))
    fake = FakeKms(p256_key, "EC_SIGN_P256_SHA256")
    signer = KmsSigner(KEY_VERSION, session=fake)
    fake.status = status
    with pytest.raises(KeyServiceError) as info:
        signer.sign(b"m")
    assert info.value.evidence["status"] == status


def test_kms_integrity_checks(p256_key: Any) -> None:
    with pytest.raises(KeyServiceError, match="CRC32C"):
        KmsSigner(
            KEY_VERSION, session=FakeKms(p256_key, "EC_SIGN_P256_SHA256", corrupt_pem_crc=True)
        )
    fake = FakeKms(p256_key, "EC_SIGN_P256_SHA256", corrupt_signature_crc=True)
    with pytest.raises(KeyServiceError, match="CRC32C"):
        KmsSigner(KEY_VERSION, session=fake).sign(b"m")
    fake = FakeKms(p256_key, "EC_SIGN_P256_SHA256", echo_verified=False)
    with pytest.raises(KeyServiceError, match="integrity"):
        KmsSigner(KEY_VERSION, session=fake).sign(b"m")


def test_kms_malformed_responses(p256_key: Any) -> None:
    class NotJson(FakeKms):
        def get(self, url: str, **kwargs: Any) -> FakeResponse:
            return FakeResponse(200, ValueError("no json"))

    with pytest.raises(KeyServiceError, match="non-JSON"):
        KmsSigner(KEY_VERSION, session=NotJson(p256_key, "EC_SIGN_P256_SHA256"))

    class NoPem(FakeKms):
        def get(self, url: str, **kwargs: Any) -> FakeResponse:
            return FakeResponse(200, {"algorithm": "EC_SIGN_P256_SHA256"})

    with pytest.raises(KeyServiceError, match="without pem"):
        KmsSigner(KEY_VERSION, session=NoPem(p256_key, "EC_SIGN_P256_SHA256"))

    class BadSignature(FakeKms):
        def post(self, url: str, **kwargs: Any) -> FakeResponse:
            return FakeResponse(200, {"signature": "***", "verifiedDigestCrc32c": True})

    with pytest.raises(KeyServiceError, match="malformed"):
        KmsSigner(KEY_VERSION, session=BadSignature(p256_key, "EC_SIGN_P256_SHA256")).sign(b"m")


# --- local keys and wiring ---------------------------------------------------------------


def test_generate_ed25519_private_key_pem() -> None:
    pem = generate_ed25519_private_key_pem()
    assert pem.startswith(b"-----BEGIN " + b"PRIVATE KEY-----")  # split for secret scanners
    assert LocalSigner.from_pem(pem).algorithm == ED25519
    assert generate_ed25519_private_key_pem() != pem


def test_ensure_dev_signing_key(tmp_path: Path) -> None:
    path = ensure_dev_signing_key(tmp_path / "data")
    assert path == tmp_path / "data" / "keys" / "signing-ed25519.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert LocalSigner.from_pem(first).algorithm == ED25519
    # Idempotent: an existing key is never replaced.
    assert ensure_dev_signing_key(tmp_path / "data") == path
    assert path.read_bytes() == first


def test_load_signer_from_file(tmp_path: Path) -> None:
    key_file = ensure_dev_signing_key(tmp_path)
    signer = load_signer(Settings(signing_key_file=key_file))
    assert isinstance(signer, LocalSigner)
    assert signer.key_id == LocalSigner.from_pem(key_file.read_bytes()).key_id


def test_load_signer_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyServiceError, match="SIGNING_KEY_FILE"):
        load_signer(Settings(signing_key_file=tmp_path / "nope.pem"))


def test_load_signer_unconfigured() -> None:
    with pytest.raises(KeyServiceError, match="SIGNING_KEY_FILE or KMS_KEY_VERSION"):
        load_signer(Settings())


def test_load_signer_kms(monkeypatch: pytest.MonkeyPatch, p256_key: Any) -> None:
    fake = FakeKms(p256_key, "EC_SIGN_P256_SHA256")
    monkeypatch.setattr(keys, "_default_session", lambda: fake)
    signer = load_signer(Settings(kms_key_version=KEY_VERSION))
    assert isinstance(signer, KmsSigner)
    assert signer.algorithm == ECDSA_P256_SHA256


def test_load_trusted_keys(tmp_path: Path, signers: dict[str, LocalSigner]) -> None:
    current = signers[ED25519]
    old = [signers[ECDSA_P256_SHA256], signers[RSA_PSS_SHA256]]
    bundle = tmp_path / "trusted.pem"
    bundle.write_bytes(b"".join(s.public_key.pem for s in old))
    trusted = load_trusted_keys(Settings(trusted_public_keys_file=bundle), current)
    assert set(trusted) == {current.key_id, *(s.key_id for s in old)}
    assert trusted[current.key_id] == current.public_key
    assert load_trusted_keys(Settings(), current) == {current.key_id: current.public_key}
    with pytest.raises(KeyServiceError, match="TRUSTED_PUBLIC_KEYS_FILE"):
        load_trusted_keys(Settings(trusted_public_keys_file=tmp_path / "missing.pem"), current)


@dataclass
class SlowKms(FakeKms):
    """A KMS whose every signature takes a while, and which records peak concurrency."""

    in_flight: int = 0
    peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.02)
            return super().post(url, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_kms_batch_is_signed_concurrently_and_in_order(p256_key: Any) -> None:
    kms = SlowKms(p256_key, "EC_SIGN_P256_SHA256")
    signer = KmsSigner(KEY_VERSION, session=kms)
    messages = [f"statement {i}".encode() for i in range(40)]
    started = time.perf_counter()
    signatures = sign_all(signer, messages)
    elapsed = time.perf_counter() - started
    for message, signature in zip(messages, signatures, strict=True):
        signer.public_key.verify(message, signature)  # each signature is its own message's
    assert kms.peak > 1
    assert kms.peak <= KMS_CONCURRENT_SIGNATURES
    assert elapsed < 40 * 0.02  # faster than one after another


def test_kms_batch_failure_is_a_key_service_error(p256_key: Any) -> None:
    kms = FakeKms(p256_key, "EC_SIGN_P256_SHA256")
    signer = KmsSigner(KEY_VERSION, session=kms)
    kms.status = 503
    with pytest.raises(KeyServiceError):
        sign_all(signer, [b"a", b"b", b"c"])


# --- the checkpoint key -----------------------------------------------------------------


def test_dev_checkpoint_key_is_its_own_key(tmp_path: Path) -> None:
    record_key = ensure_dev_signing_key(tmp_path)
    checkpoint_key = ensure_dev_checkpoint_key(tmp_path)
    assert checkpoint_key != record_key
    assert checkpoint_key.read_bytes() != record_key.read_bytes()
    assert stat.S_IMODE(checkpoint_key.stat().st_mode) == 0o600
    assert ensure_dev_checkpoint_key(tmp_path) == checkpoint_key


def test_checkpoint_key_from_file_signs_notes_for_each_tenant(tmp_path: Path) -> None:
    path = ensure_dev_checkpoint_key(tmp_path)
    key = load_checkpoint_signer(Settings(checkpoint_key_file=path))
    assert key.log_origin == DEV_LOG_ORIGIN
    assert key.vkey("acme").startswith(f"{DEV_LOG_ORIGIN}/acme+")
    named = load_checkpoint_signer(
        Settings(checkpoint_key_file=path, log_origin="registry.example.com/plant")
    )
    assert named.origin("acme") == "registry.example.com/plant/acme"
    assert named.key_id == key.key_id


def test_checkpoint_key_must_be_ed25519(tmp_path: Path, p256_key: Any) -> None:
    path = tmp_path / "p256.pem"
    path.write_bytes(
        p256_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyServiceError, match="signed notes need Ed25519"):
        load_checkpoint_signer(Settings(checkpoint_key_file=path))
    with pytest.raises(KeyServiceError, match="CHECKPOINT_KEY_FILE"):
        load_checkpoint_signer(Settings(checkpoint_key_file=tmp_path / "absent.pem"))
    with pytest.raises(KeyServiceError, match="CHECKPOINT_KEY_FILE or CHECKPOINT_KMS"):
        load_checkpoint_signer(Settings())


def test_checkpoint_key_in_kms_is_ec_sign_ed25519(
    monkeypatch: pytest.MonkeyPatch, p256_key: Any
) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    fake = FakeKms(private, "EC_SIGN_ED25519")
    monkeypatch.setattr(keys, "_default_session", lambda: fake)
    key = load_checkpoint_signer(
        Settings(checkpoint_kms_key_version=KEY_VERSION, log_origin="registry.example.com/p")
    )
    signature = key.note_signer("acme").sign(b"registry.example.com/p/acme\n1\n")
    # KMS signs the note text itself (pure EdDSA), so the raw key verifies it.
    private.public_key().verify(signature.signature, b"registry.example.com/p/acme\n1\n")
    assert fake.requests[-1][2]["json"]["data"]

    monkeypatch.setattr(keys, "_default_session", lambda: FakeKms(p256_key, "EC_SIGN_P256_SHA256"))
    with pytest.raises(KeyServiceError, match="need EC_SIGN_ED25519"):
        load_checkpoint_signer(Settings(checkpoint_kms_key_version=KEY_VERSION))


def test_an_unreadable_key_file_is_a_key_service_error_naming_its_setting(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "absent.pem"
    with pytest.raises(KeyServiceError) as raised:
        load_signer(Settings(signing_key_file=missing))
    assert f"cannot read SIGNING_KEY_FILE {missing}" in raised.value.detail
    with pytest.raises(KeyServiceError) as raised:
        load_checkpoint_signer(Settings(checkpoint_key_file=missing))
    assert f"cannot read CHECKPOINT_KEY_FILE {missing}" in raised.value.detail
