"""Fixtures for end-to-end tests: keys, and the four functions as real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.e2e_support import (
    REPO,
    START_TIMEOUT,
    Keys,
    free_port,
    function_env,
    stop,
    wait_until_serving,
)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("e2e-keys")
    private = ed25519.Ed25519PrivateKey.generate()
    public_file = directory / "jwt.pub.pem"
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    key_files = []
    for name in ("signing.pem", "checkpoint.pem"):
        path = directory / name
        path.write_bytes(
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        key_files.append(path)
    return Keys(private, public_file, *key_files)


@pytest.fixture(scope="session")
def function_servers(database: Any, keys: Keys) -> Iterator[dict[str, str]]:
    """The four targets as real functions-framework processes; yields target → base URL."""
    env = function_env(database, keys)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    try:
        for target in ("create", "query", "supersede", "verify"):
            port = free_port()
            processes[target] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "functions_framework",
                    "--target",
                    target,
                    "--source",
                    "main.py",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            urls[target] = f"http://127.0.0.1:{port}"
        for target, url in urls.items():
            wait_until_serving(f"{url}/", processes[target], START_TIMEOUT)
        yield urls
    finally:
        for process in processes.values():
            stop(process, signal.SIGTERM)
