"""A minimal C2SP tlog-witness, run as its own process by the witness tests.

No tlog-witness implementation installs from the package registries here (searched:
PyPI, npm, Debian), so this is the spec's add-checkpoint endpoint and its optional
monitoring endpoint, written from c2sp.org/tlog-witness, and nothing more::

    python -m tests.interop.witness_server CONFIG.json STATE.json

CONFIG names the witness (``name``, ``seed_hex`` of its Ed25519 key) and the logs it
follows (``logs``: origin -> list of log verifier keys). It prints its port, then
serves until killed. STATE holds, per origin, the latest cosigned checkpoint; the
check of the old size and the update are one atomic step under a lock, and the state
reaches the disk before the response (the spec's rollback race).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.errors import InputError, VerificationError
from shared.core.merkle import EMPTY_ROOT, verify_consistency
from shared.core.note import Ed25519NoteVerifier, Note, open_note, parse_note
from shared.core.tlog import TreeHead
from shared.core.witness import (
    CONFLICT_CONTENT_TYPE,
    Cosigner,
    format_add_checkpoint_response,
    parse_add_checkpoint_request,
)

MAX_BODY = 64 * 1024


class Witness:
    def __init__(self, config: dict[str, Any], state_file: Path) -> None:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(config["seed_hex"]))
        self.cosigner = Cosigner.from_private_key(config["name"], key)
        self.logs = {
            origin: [Ed25519NoteVerifier.from_vkey(v) for v in vkeys]
            for origin, vkeys in config["logs"].items()
        }
        self.state_file = state_file
        self.lock = threading.Lock()
        self.state: dict[str, str] = (
            json.loads(state_file.read_text("utf-8")) if state_file.exists() else {}
        )

    def _persist(self) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(self.state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.state_file)

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one add-checkpoint request."""
        try:
            request = parse_add_checkpoint_request(body)
            note = parse_note(request.checkpoint)
            head = TreeHead.parse(note.text)
        except (InputError, VerificationError) as exc:
            return 400, "text/plain", f"{exc}\n".encode()
        verifiers = self.logs.get(head.origin)
        if verifiers is None:
            return 404, "text/plain", b"unknown log origin\n"
        try:
            open_note(request.checkpoint, verifiers)
        except VerificationError as exc:
            return 403, "text/plain", f"{exc}\n".encode()
        if request.old_size > head.size:
            return 400, "text/plain", b"old size is beyond the checkpoint size\n"
        with self.lock:
            latest = self.state.get(head.origin)
            latest_head = TreeHead.parse(parse_note(latest.encode()).text) if latest else None
            latest_size = latest_head.size if latest_head else 0
            if request.old_size != latest_size:
                return 409, CONFLICT_CONTENT_TYPE, f"{latest_size}\n".encode()
            if head.size == 0 and head.root_hash != EMPTY_ROOT:
                return 422, "text/plain", b"an empty tree has the empty root\n"
            if request.old_size == 0:
                if request.proof:
                    return 422, "text/plain", b"no proof from the empty tree\n"
            else:
                assert latest_head is not None
                try:
                    verify_consistency(
                        first_size=latest_head.size,
                        second_size=head.size,
                        first_root=latest_head.root_hash,
                        second_root=head.root_hash,
                        proof=request.proof,
                    )
                except VerificationError as exc:
                    return 422, "text/plain", f"{exc}\n".encode()
            cosignature = self.cosigner.cosign(note.text.encode(), int(time.time()))
            self.state[head.origin] = (
                Note(note.text, (*note.signatures, cosignature)).to_bytes().decode()
            )
            self._persist()
        return 200, "text/plain; charset=utf-8", format_add_checkpoint_response([cosignature])

    def checkpoint(self, origin_hash: str) -> tuple[int, str, bytes]:
        with self.lock:
            for origin, checkpoint in self.state.items():
                if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                    return 200, "text/plain; charset=utf-8", checkpoint.encode()
        return 404, "text/plain", b"never cosigned that log\n"


def serve(config_file: Path, state_file: Path) -> None:
    witness = Witness(json.loads(config_file.read_text("utf-8")), state_file)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/add-checkpoint":
                self._reply(404, "text/plain", b"not found\n")
            elif not 0 < length <= MAX_BODY:
                self._reply(400, "text/plain", b"body missing or too large\n")
            else:
                self._reply(*witness.add_checkpoint(self.rfile.read(length)))

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[1] == "checkpoint":
                self._reply(*witness.checkpoint(parts[0]))
            else:
                self._reply(404, "text/plain", b"not found\n")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))
