"""Total deadlines on Cloud KMS and Cloud Storage calls, against a slow loopback endpoint.

The endpoint answers ``200`` at once and then sends its body one byte at a time, quicker
than any per-read timeout: requests' ``timeout`` alone would wait for the whole body.
Only a total deadline (GOOGLE_API_TIMEOUT_S) ends such a call, as a 503 with Retry-After.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from functions.problems import problem
from shared.core.checkpoints import sign_checkpoint
from shared.core.errors import KeyServiceError, RegistryError, StorageError
from shared.core.hashing import sha256
from shared.core.signing import LocalSigner
from shared.google_http import RETRY_AFTER_SECONDS, HttpSession, call
from shared.keys import KmsSigner, crc32c, generate_ed25519_private_key_pem
from shared.publisher import GcsCheckpointPublisher, build_publisher
from shared.settings import DEFAULT_GOOGLE_API_TIMEOUT_S, Settings

KEY_VERSION = "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
DEADLINE = 0.5


class SlowEndpoint:
    """HTTP/1.1 on 127.0.0.1. GET answers ``fast_get`` at once when set; every other
    request gets 200 and a body that arrives one byte every ``interval`` seconds."""

    def __init__(self, *, interval: float = 0.05, length: int = 100_000) -> None:
        self.interval = interval
        self.length = length
        self.fast_get: bytes | None = None
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode()
            self.requests.append(request_line)
            if request_line.startswith("GET") and self.fast_get is not None:
                conn.sendall(_response_head(len(self.fast_get)) + self.fast_get)
                return
            conn.sendall(_response_head(self.length))
            for _ in range(self.length):
                if self._stop.wait(self.interval):
                    return
                conn.sendall(b" ")

    def session(self) -> HttpSession:
        """A real requests session whose Google API URLs all lead here."""
        return cast(HttpSession, _Redirected(self.base))

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _response_head(length: int) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


class _Redirected(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = base

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> Any:
        local = re.sub(r"^https://[^/]+", self._base, str(url))
        verb = method.decode() if isinstance(method, bytes) else method
        return super().request(verb, local, *args, **kw)


@pytest.fixture
def endpoint() -> Iterator[SlowEndpoint]:
    server = SlowEndpoint()
    yield server
    server.close()


def _assert_timed_out(raised: RegistryError, started: float) -> None:
    elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + 1.0, elapsed
    assert raised.evidence["timeout_s"] == DEADLINE
    status, headers, body = problem(raised, "req-1")
    assert status == 503
    assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "within" not in str(body["detail"])  # the generic detail, not ours


def test_per_read_timeouts_alone_would_not_end_the_call(endpoint: SlowEndpoint) -> None:
    # The control: with requests' own timeout as long as our deadline, the body keeps
    # coming; after three deadlines the call is still running.
    done = threading.Event()

    def plain() -> None:
        with contextlib.suppress(Exception):
            endpoint.session().get(f"{endpoint.base}/x", timeout=DEADLINE)
        done.set()

    threading.Thread(target=plain, daemon=True).start()
    assert not done.wait(3 * DEADLINE)


def test_a_dripping_answer_is_cut_at_the_deadline(endpoint: SlowEndpoint) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        call(
            endpoint.session(),
            "get",
            f"{endpoint.base}/x",
            deadline_s=DEADLINE,
            error=StorageError,
            service="GCS",
        )
    _assert_timed_out(raised.value, started)


def test_an_answer_within_the_deadline_is_returned(endpoint: SlowEndpoint) -> None:
    endpoint.length = 3
    response = call(
        endpoint.session(),
        "get",
        f"{endpoint.base}/x",
        deadline_s=5,
        error=StorageError,
        service="GCS",
    )
    assert response.status_code == 200
    assert response.content == b"   "


def _public_key_document() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return json.dumps(
        {"pem": pem, "algorithm": "EC_SIGN_ED25519", "pemCrc32c": str(crc32c(pem.encode()))}
    ).encode()


def test_kms_public_key_fetch_has_a_total_deadline(endpoint: SlowEndpoint) -> None:
    started = time.monotonic()
    with pytest.raises(KeyServiceError) as raised:
        KmsSigner(KEY_VERSION, session=endpoint.session(), deadline_s=DEADLINE)
    _assert_timed_out(raised.value, started)


def test_kms_signing_has_a_total_deadline(endpoint: SlowEndpoint) -> None:
    endpoint.fast_get = _public_key_document()
    signer = KmsSigner(KEY_VERSION, session=endpoint.session(), deadline_s=DEADLINE)
    started = time.monotonic()
    with pytest.raises(KeyServiceError) as raised:
        signer.sign(b"a record")
    _assert_timed_out(raised.value, started)
    assert [line.split()[0] for line in endpoint.requests] == ["GET", "POST"]


def test_a_batch_of_kms_signatures_times_out_within_one_deadline(
    endpoint: SlowEndpoint,
) -> None:
    # Signatures go out in parallel, so a batch waits one deadline, not one per record.
    endpoint.fast_get = _public_key_document()
    signer = KmsSigner(KEY_VERSION, session=endpoint.session(), deadline_s=DEADLINE)
    started = time.monotonic()
    with pytest.raises(KeyServiceError):
        signer.sign_many([b"a", b"b", b"c", b"d"])
    assert time.monotonic() - started < DEADLINE + 1.0


def test_gcs_checkpoint_upload_has_a_total_deadline(endpoint: SlowEndpoint) -> None:
    checkpoint = sign_checkpoint(
        tenant_id="acme",
        tree_size=7,
        root_hash=sha256(b"r"),
        chain_head=sha256(b"h"),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        signer=LocalSigner.from_pem(generate_ed25519_private_key_pem()),
    )
    publisher = GcsCheckpointPublisher("b", session=endpoint.session(), deadline_s=DEADLINE)
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        publisher.publish(checkpoint)
    _assert_timed_out(raised.value, started)
    assert endpoint.requests[0].startswith("POST /upload/storage/v1/b/b/o?")


def _settings(env: Mapping[str, str]) -> Settings:
    return Settings.from_env(env)


def test_the_deadline_is_a_setting_with_a_safe_default() -> None:
    assert _settings({}).google_api_timeout_s == DEFAULT_GOOGLE_API_TIMEOUT_S == 10
    assert _settings({"GOOGLE_API_TIMEOUT_S": "3"}).google_api_timeout_s == 3
    for bad in ("0", "61", "soon"):
        with pytest.raises(RegistryError, match="GOOGLE_API_TIMEOUT_S"):
            _settings({"GOOGLE_API_TIMEOUT_S": bad})
    publisher = build_publisher(Settings(checkpoint_bucket="b", google_api_timeout_s=3))
    assert isinstance(publisher, GcsCheckpointPublisher)
    assert publisher.deadline_s == 3
