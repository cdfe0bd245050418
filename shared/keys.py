"""Signing-key providers: a local PEM file, or a Cloud KMS asymmetric key over REST.

Example::

    signer = load_signer(settings)                     # LocalSigner or KmsSigner
    trusted = load_trusted_keys(settings, signer)      # current key + rotated-out keys
    record = seal_record(..., signer=signer)

    # Local development: create (once) and use a dev Ed25519 key.
    path = ensure_dev_signing_key(settings.data_dir)
    signer = LocalSigner.from_pem(path.read_bytes())

    # The log's checkpoint key (Ed25519 signed notes), its own key, local or in KMS.
    checkpoint_key = load_checkpoint_signer(settings)
    checkpoint_key.vkey("acme")    # "<LOG_ORIGIN>/acme+<key ID>+<base64>"

KMS access uses google-auth's ``AuthorizedSession`` and the KMS REST API rather than the
KMS client library: two calls do not justify another dependency tree in every function.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.checkpoints import CheckpointSigner
from shared.core.errors import KeyServiceError
from shared.core.hashing import sha256
from shared.core.signing import (
    ECDSA_P256_SHA256,
    ED25519,
    RSA_PSS_SHA256,
    LocalSigner,
    PublicKey,
    Signer,
    load_public_keys_pem_bundle,
)
from shared.google_http import HttpSession, authorized_session, call
from shared.settings import DEFAULT_GOOGLE_API_TIMEOUT_S, Settings

DEV_KEY_FILENAME = "signing-ed25519.pem"
DEV_CHECKPOINT_KEY_FILENAME = "checkpoint-ed25519.pem"
KMS_API = "https://cloudkms.googleapis.com/v1/"
KMS_SCOPE = "https://www.googleapis.com/auth/cloudkms"
# Signatures in flight at once for one batch; the connection pool of the session (10 per
# host by default) and the KMS quota per project are the limits this stays under.
KMS_CONCURRENT_SIGNATURES = 8

# KMS algorithm names we accept, mapped to ours. Other KMS algorithms (PKCS#1 v1.5,
# SHA-512 digests, P-384) are refused so every signature can be verified the same way
# locally and by auditors.
KMS_ALGORITHMS: Mapping[str, str] = {
    "EC_SIGN_P256_SHA256": ECDSA_P256_SHA256,
    "RSA_SIGN_PSS_2048_SHA256": RSA_PSS_SHA256,
    "RSA_SIGN_PSS_3072_SHA256": RSA_PSS_SHA256,
    "RSA_SIGN_PSS_4096_SHA256": RSA_PSS_SHA256,
    "EC_SIGN_ED25519": ED25519,
}


# --- local keys ---------------------------------------------------------------------


def generate_ed25519_private_key_pem() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM."""
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_dev_signing_key(data_dir: Path) -> Path:
    """Create ``data_dir/keys/signing-ed25519.pem`` (mode 0600) unless it exists."""
    return _ensure_dev_key(data_dir, DEV_KEY_FILENAME)


def ensure_dev_checkpoint_key(data_dir: Path) -> Path:
    """Create ``data_dir/keys/checkpoint-ed25519.pem`` (mode 0600) unless it exists.

    A key of its own, not the record key: the checkpoint key's public half is the log's
    verifier key that clients and witnesses pin, and it signs nothing but checkpoints.
    """
    return _ensure_dev_key(data_dir, DEV_CHECKPOINT_KEY_FILENAME)


def _ensure_dev_key(data_dir: Path, filename: str) -> Path:
    key_dir = data_dir / "keys"
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = key_dir / filename
    try:
        # O_EXCL makes creation atomic: two dev processes starting together cannot
        # overwrite each other's key, and the file is never world-readable.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "wb") as handle:
        handle.write(generate_ed25519_private_key_pem())
    return path


# --- Cloud KMS ----------------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as KMS uses for integrity fields.

    Pure Python is fine here: it runs over a digest and a signature of a few hundred
    bytes, and avoids a compiled dependency.
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _default_session() -> HttpSession:
    return authorized_session(KMS_SCOPE, KeyServiceError, "Cloud KMS")


class KmsSigner:
    """A Signer backed by a Cloud KMS asymmetric signing key version.

    The public key is fetched once, in the constructor, so a misconfigured key fails at
    start-up rather than on the first write. Each call to KMS ends within ``deadline_s``
    seconds (GOOGLE_API_TIMEOUT_S), answered or not.
    """

    def __init__(
        self,
        key_version: str,
        session: HttpSession | None = None,
        *,
        deadline_s: float = DEFAULT_GOOGLE_API_TIMEOUT_S,
    ) -> None:
        self.key_version = key_version
        self.deadline_s = deadline_s
        self._session = session if session is not None else _default_session()
        body = self._call("get", f"{KMS_API}{key_version}/publicKey")
        pem = body.get("pem")
        kms_algorithm = body.get("algorithm")
        if not isinstance(pem, str) or not isinstance(kms_algorithm, str):
            raise KeyServiceError("Cloud KMS returned a public key without pem or algorithm")
        self._check_crc(pem.encode(), body.get("pemCrc32c"), "public key")
        algorithm = KMS_ALGORITHMS.get(kms_algorithm)
        if algorithm is None:
            raise KeyServiceError(
                f"Cloud KMS key algorithm {kms_algorithm} is not supported; "
                f"use one of {', '.join(KMS_ALGORITHMS)}"
            )
        self.public_key = PublicKey.from_pem(pem.encode())
        if self.public_key.algorithm != algorithm:
            raise KeyServiceError(
                f"Cloud KMS says {kms_algorithm} but the key is {self.public_key.algorithm}"
            )

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    @property
    def algorithm(self) -> str:
        return self.public_key.algorithm

    def sign(self, message: bytes) -> bytes:
        if self.algorithm == ED25519:
            # KMS Ed25519 is pure EdDSA: it signs the message itself, not a digest.
            payload = message
            body: dict[str, Any] = {"data": base64.b64encode(payload).decode()}
            body["dataCrc32c"] = str(crc32c(payload))
            verified_flag = "verifiedDataCrc32c"
        else:
            payload = sha256(message)
            body = {"digest": {"sha256": base64.b64encode(payload).decode()}}
            body["digestCrc32c"] = str(crc32c(payload))
            verified_flag = "verifiedDigestCrc32c"
        reply = self._call("post", f"{KMS_API}{self.key_version}:asymmetricSign", json=body)
        if reply.get(verified_flag) is not True:
            raise KeyServiceError("Cloud KMS did not confirm the integrity of the request")
        encoded = reply.get("signature")
        if not isinstance(encoded, str):
            raise KeyServiceError("Cloud KMS returned no signature")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyServiceError("Cloud KMS returned a malformed signature") from exc
        self._check_crc(signature, reply.get("signatureCrc32c"), "signature")
        return signature

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        """Sign in order, with up to KMS_CONCURRENT_SIGNATURES requests in flight.

        Each signature is a round trip to Cloud KMS; a batch of a thousand records signed
        one after another would hold the tenant's append lock for many seconds.
        """
        workers = min(KMS_CONCURRENT_SIGNATURES, len(messages))
        if workers <= 1:
            return [self.sign(message) for message in messages]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kms-sign") as pool:
            return list(pool.map(self.sign, messages))

    def _call(self, method: str, url: str, **kwargs: Any) -> Mapping[str, Any]:
        response = call(
            self._session,
            method,
            url,
            deadline_s=self.deadline_s,
            error=KeyServiceError,
            service="Cloud KMS",
            **kwargs,
        )
        status = getattr(response, "status_code", None)
        if status != 200:
            raise KeyServiceError(
                f"Cloud KMS answered HTTP {status} for {self.key_version}", status=status
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise KeyServiceError("Cloud KMS returned a non-JSON response") from exc
        if not isinstance(body, Mapping):
            raise KeyServiceError("Cloud KMS returned an unexpected response")
        return body

    @staticmethod
    def _check_crc(data: bytes, reported: object, what: str) -> None:
        try:
            expected = int(str(reported))
        except ValueError:
            raise KeyServiceError(f"Cloud KMS returned no CRC32C for the {what}") from None
        if crc32c(data) != expected:
            raise KeyServiceError(f"Cloud KMS {what} failed its CRC32C integrity check")

    def __repr__(self) -> str:
        return f"KmsSigner(key_version={self.key_version!r}, key_id={self.key_id!r})"


# --- wiring -------------------------------------------------------------------------


def _read_key_file(setting: str, path: Path) -> bytes:
    """A configured PEM key file's bytes; an unreadable one is a KeyServiceError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyServiceError(f"cannot read {setting} {path}: {exc.strerror}") from exc


def load_signer(settings: Settings) -> Signer:
    """The configured signer: SIGNING_KEY_FILE, else KMS_KEY_VERSION, else an error."""
    if settings.signing_key_file is not None:
        return LocalSigner.from_pem(_read_key_file("SIGNING_KEY_FILE", settings.signing_key_file))
    if settings.kms_key_version is not None:
        return KmsSigner(settings.kms_key_version, deadline_s=settings.google_api_timeout_s)
    raise KeyServiceError(
        "no signing key configured: set SIGNING_KEY_FILE or KMS_KEY_VERSION "
        "(local tooling creates a dev key with shared.keys.ensure_dev_signing_key)"
    )


def load_checkpoint_signer(settings: Settings) -> CheckpointSigner:
    """The log's Ed25519 checkpoint key: CHECKPOINT_KEY_FILE, else CHECKPOINT_KMS_KEY_VERSION.

    Its notes are named ``<LOG_ORIGIN>/<tenant_id>``; without LOG_ORIGIN (local commands
    and tests) the documented dev prefix ``shared.settings.DEV_LOG_ORIGIN`` is used.
    """
    origin = settings.effective_log_origin
    if settings.checkpoint_key_file is not None:
        pem = _read_key_file("CHECKPOINT_KEY_FILE", settings.checkpoint_key_file)
        local = LocalSigner.from_pem(pem)
        if local.algorithm != ED25519:
            raise KeyServiceError(
                f"CHECKPOINT_KEY_FILE holds an {local.algorithm} key; signed notes need Ed25519"
            )
        return CheckpointSigner(origin, local.public_key, local.sign)
    if settings.checkpoint_kms_key_version is not None:
        kms = KmsSigner(
            settings.checkpoint_kms_key_version, deadline_s=settings.google_api_timeout_s
        )
        if kms.algorithm != ED25519:
            raise KeyServiceError(
                f"CHECKPOINT_KMS_KEY_VERSION is an {kms.algorithm} key; signed notes need "
                "EC_SIGN_ED25519"
            )
        return CheckpointSigner(origin, kms.public_key, kms.sign)
    raise KeyServiceError(
        "no checkpoint key configured: set CHECKPOINT_KEY_FILE or CHECKPOINT_KMS_KEY_VERSION "
        "(local tooling creates a dev key with shared.keys.ensure_dev_checkpoint_key)"
    )


def load_trusted_keys(settings: Settings, signer: Signer) -> dict[str, PublicKey]:
    """The signer's key plus every key in TRUSTED_PUBLIC_KEYS_FILE (rotated-out keys)."""
    trusted = {signer.key_id: signer.public_key}
    path = settings.trusted_public_keys_file
    if path is not None:
        try:
            bundle = path.read_bytes()
        except OSError as exc:
            raise KeyServiceError(
                f"cannot read TRUSTED_PUBLIC_KEYS_FILE {path}: {exc.strerror}"
            ) from exc
        for key in load_public_keys_pem_bundle(bundle):
            trusted[key.key_id] = key
    return trusted
