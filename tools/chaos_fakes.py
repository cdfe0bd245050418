"""Loopback fakes of the Cloud KMS and Cloud Storage REST APIs, with faults on demand.

``make chaos`` runs the registry with its real ``KmsSigner`` and
``GcsCheckpointPublisher`` pointed at these (``session_for``): the requests and answers
are the ones Google's APIs exchange (publicKey, asymmetricSign with CRC32C integrity
fields; a media upload with ``ifGenerationMatch=0`` and a media read), so a fault here
reaches the registry exactly as a real outage would.

Example::

    kms = FakeKms(); gcs = FakeGcs()
    signer = KmsSigner(FAKE_KEY_VERSION, session=session_for(kms.base))
    kms.mode = "error"      # every call answers 503; "slow" never answers in time
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.google_http import HttpSession
from shared.keys import crc32c

FAKE_KEY_VERSION = "projects/chaos/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
# The checkpoint key is a key of its own (docs/adr/0010), here as in a deployment.
FAKE_CHECKPOINT_KEY_VERSION = (
    "projects/chaos/locations/global/keyRings/r/cryptoKeys/checkpoint/cryptoKeyVersions/1"
)
MODES = ("ok", "error", "slow")
# How long a "slow" fake holds a request: longer than any deadline the registry uses.
SLOW_SECONDS = 30.0


class _Fake:
    """A threaded HTTP server on 127.0.0.1 whose ``mode`` decides every answer."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        self.calls += 1
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if self.mode == "slow":
            self._stop.wait(SLOW_SECONDS)
        if self.mode != "ok":
            self._send(handler, 503, {"error": {"code": 503, "status": "UNAVAILABLE"}})
            return
        status, payload = self.answer(method, handler.path, body)
        self._send(handler, status, payload)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the registry gave up on this call at its deadline

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


class FakeKms(_Fake):
    """Cloud KMS for two Ed25519 key versions (EC_SIGN_ED25519 signs the data itself)."""

    def __init__(self) -> None:
        self._keys = {
            version: ed25519.Ed25519PrivateKey.generate()
            for version in (FAKE_KEY_VERSION, FAKE_CHECKPOINT_KEY_VERSION)
        }
        super().__init__()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        for version, key in self._keys.items():
            if path.startswith(f"/v1/{version}/") or path.startswith(f"/v1/{version}:"):
                return self._answer(method, path, body, version, key)
        return 404, {"error": {"code": 404, "message": f"no {method} {path}"}}

    def _answer(
        self, method: str, path: str, body: bytes, version: str, key: ed25519.Ed25519PrivateKey
    ) -> tuple[int, Any]:
        if method == "GET" and path == f"/v1/{version}/publicKey":
            pem = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
            return 200, {
                "pem": pem,
                "algorithm": "EC_SIGN_ED25519",
                "pemCrc32c": str(crc32c(pem.encode())),
                "name": version,
            }
        if method == "POST" and path == f"/v1/{version}:asymmetricSign":
            request = json.loads(body)
            data = base64.b64decode(request["data"])
            if int(request["dataCrc32c"]) != crc32c(data):
                return 400, {"error": {"code": 400, "message": "dataCrc32c mismatch"}}
            signature = key.sign(data)
            return 200, {
                "signature": base64.b64encode(signature).decode(),
                "signatureCrc32c": str(crc32c(signature)),
                "verifiedDataCrc32c": True,
                "name": version,
            }
        return 404, {"error": {"code": 404, "message": f"no {method} {path}"}}


class FakeGcs(_Fake):
    """The two Cloud Storage JSON API calls the publisher makes, over an in-memory bucket."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self._objects_lock = threading.Lock()
        super().__init__()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query)
        upload = re.fullmatch(r"/upload/storage/v1/b/([^/]+)/o", url.path)
        if method == "POST" and upload and query.get("uploadType") == ["media"]:
            key = (urllib.parse.unquote(upload[1]), query["name"][0])
            with self._objects_lock:
                if key in self.objects and query.get("ifGenerationMatch") == ["0"]:
                    return 412, {"error": {"code": 412, "message": "conditionNotMet"}}
                self.objects[key] = body
            return 200, {"bucket": key[0], "name": key[1], "generation": str(time.time_ns())}
        read = re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", url.path)
        if method == "GET" and read and query.get("alt") == ["media"]:
            key = (urllib.parse.unquote(read[1]), urllib.parse.unquote(read[2]))
            with self._objects_lock:
                found = self.objects.get(key)
            if found is None:
                return 404, {"error": {"code": 404, "message": "no such object"}}
            return 200, found
        return 404, {"error": {"code": 404, "message": f"no {method} {path}"}}


class _Redirected(requests.Session):
    """A real requests session whose Google API URLs lead to a loopback fake."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = base

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> Any:
        local = re.sub(r"^https://[^/]+", self._base, str(url))
        return super().request(str(method), local, *args, **kw)


def session_for(base: str) -> HttpSession:
    """A session for ``KmsSigner`` or ``GcsCheckpointPublisher`` that talks to a fake."""
    if not base.startswith("http://127.0.0.1:"):
        raise ValueError("the fakes are loopback only")
    return cast(HttpSession, _Redirected(base))
