"""Fixtures for the client and CLI tests: a signing key, a trust store directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.signing import LocalSigner


@pytest.fixture(scope="session")
def signer() -> LocalSigner:
    return LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def trust_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's default trust store, redirected into the test's directory."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("PLANT_TRUST_STORE", raising=False)
    return config / "plant"
