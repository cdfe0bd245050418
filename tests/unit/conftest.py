"""Fixtures for the pure-core unit tests: keys made once per session, fixed times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.core.signing import LocalSigner


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 24, 22, 24, 56, 123456, tzinfo=UTC)


@pytest.fixture(scope="session")
def ed25519_signer() -> LocalSigner:
    return LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def p256_signer() -> LocalSigner:
    return LocalSigner.from_private_key(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="session")
def rsa_signer() -> LocalSigner:
    return LocalSigner.from_private_key(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def signers(
    ed25519_signer: LocalSigner, p256_signer: LocalSigner, rsa_signer: LocalSigner
) -> dict[str, LocalSigner]:
    return {s.algorithm: s for s in (ed25519_signer, p256_signer, rsa_signer)}
