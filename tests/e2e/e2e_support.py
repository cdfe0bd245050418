"""End-to-end helpers: free ports, loopback HTTP, waiting for and stopping servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://issuer.e2e.test"
AUDIENCE = "plant-registry-e2e"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_devserver(
    env: dict[str, str], log_path: Path, *, attempts: int = 3, timeout: float = START_TIMEOUT * 2
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``tools.devserver`` on a free port and wait until it serves /healthz.

    free_port() can only offer a port that was free a moment ago: on a busy machine
    another process may take it first, and the server then exits at once ("Port ... is
    in use"). That start is retried on a new port; any other exit fails with the log.
    """
    for _ in range(attempts):
        port = free_port()
        log = log_path.open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "tools.devserver"],
            cwd=REPO,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/healthz", server, timeout)
            return server, port
        except AssertionError:
            output = log_path.read_text(errors="replace")
            stop(server, signal.SIGINT)
            if server.returncode is not None and f"Port {port} is in use" in output:
                continue
            raise AssertionError(f"the dev server did not come up:\n{output[-4000:]}") from None
    raise AssertionError(f"no free port after {attempts} attempts")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def http(method: str, url: str, *, token: str | None = None, body: Any = None) -> Reply:
    """One HTTP request on loopback; never raises for an HTTP error status."""
    assert url.startswith("http://127.0.0.1:"), url
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read(), error.code, dict(error.headers)
    return Reply(status, headers, json.loads(raw) if raw else None)


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            return  # it answered: the server is up
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 30) -> None:
    """Signal the process group we started (the server and its children), then reap it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass(frozen=True)
class Keys:
    jwt_private: ed25519.Ed25519PrivateKey
    jwt_public_file: Path
    signing_key_file: Path
    checkpoint_key_file: Path

    def token(
        self, tenant: str, scopes: str = "registry:read registry:write registry:admin"
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": "e2e",
            "tenant_id": tenant,
            "scope": scopes,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.jwt_private, algorithm="EdDSA")


def function_env(database: Any, keys: Keys) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_"))}
    env.update(
        {
            "DATABASE_URL": database.runtime_url,
            "SIGNING_KEY_FILE": str(keys.signing_key_file),
            "CHECKPOINT_KEY_FILE": str(keys.checkpoint_key_file),
            "LOG_ORIGIN": "registry.example.com/e2e",
            "JWT_PUBLIC_KEY_FILE": str(keys.jwt_public_file),
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": AUDIENCE,
            # All four processes publish to one directory, the stand-in for the bucket.
            "CHECKPOINT_DIR": str(keys.signing_key_file.parent / "published"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
