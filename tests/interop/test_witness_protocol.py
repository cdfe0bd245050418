"""The tlog-witness protocol end to end against a witness running in its own process.

Our side builds add-checkpoint bodies and reads the cosignatures with shared.core.witness;
the witness (tests/interop/witness_server.py) holds its own state. A rollback (the DBA
deleted the tail and the log signed a smaller tree) and a fork (a different history
from the same key) must both be refused, and never cosigned.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.core.errors import VerificationError
from shared.core.hashing import leaf_hash, sha256
from shared.core.merkle import EMPTY_ROOT, consistency_proof, root
from shared.core.note import Ed25519NoteSigner, NoteSignature, sign_note
from shared.core.tlog import TreeHead
from shared.core.witness import (
    CONFLICT_CONTENT_TYPE,
    CosignatureVerifier,
    Cosigner,
    add_checkpoint_request,
    cosignature_timestamp,
    open_cosigned,
    parse_add_checkpoint_response,
    parse_conflict_size,
)
from tests.interop.interop_support import ORIGIN, entries, fixed_key, log_signer

ROOT_DIR = Path(__file__).resolve().parents[2]
WITNESS_NAME = "witness.example.com/w1"


def witness_verifier() -> CosignatureVerifier:
    return Cosigner.from_private_key(WITNESS_NAME, fixed_key("witness")).verifier


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes


@dataclass
class WitnessProcess:
    url: str

    def post(self, body: bytes) -> Reply:
        url = f"{self.url}/add-checkpoint"
        request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return Reply(response.status, response.headers["Content-Type"], response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers["Content-Type"], error.read())

    def get(self, path: str) -> Reply:
        try:
            with urllib.request.urlopen(f"{self.url}/{path}", timeout=10) as response:  # noqa: S310
                return Reply(response.status, response.headers["Content-Type"], response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers["Content-Type"], error.read())


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    config = tmp_path / "witness.json"
    config.write_text(
        json.dumps(
            {
                "name": WITNESS_NAME,
                "seed_hex": sha256(b"witness").hex(),
                "logs": {ORIGIN: [log_signer().verifier.vkey]},
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.interop.witness_server",
            str(config),
            str(tmp_path / "state.json"),
        ],
        cwd=ROOT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield WitnessProcess(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def checkpoint(size: int, signer: Ed25519NoteSigner | None = None, salt: bytes = b"") -> bytes:
    items = entries(size, salt)
    head = TreeHead(ORIGIN, size, root([leaf_hash(e) for e in items]))
    return sign_note(head.text(), [signer or log_signer()])


def proof(first: int, second: int, salt: bytes = b"") -> list[bytes]:
    return consistency_proof(first, [leaf_hash(e) for e in entries(second, salt)])


def submit(witness: WitnessProcess, old: int, size: int, salt: bytes = b"") -> Reply:
    body = add_checkpoint_request(
        old, proof(old, size, salt) if old else [], checkpoint(size, salt=salt)
    )
    return witness.post(body)


def accepted(reply: Reply, size: int) -> NoteSignature:
    assert reply.status == 200, reply
    cosignatures = parse_add_checkpoint_response(reply.body)
    opened = open_cosigned(checkpoint(size), cosignatures, [witness_verifier()])
    assert [s.name for s in opened.verified] == [WITNESS_NAME]
    assert cosignature_timestamp(opened.verified[0]) > 1_700_000_000
    return opened.verified[0]


def test_the_witness_cosigns_a_growing_log(witness: WitnessProcess) -> None:
    accepted(submit(witness, 0, 5), 5)
    accepted(submit(witness, 5, 300), 300)
    accepted(submit(witness, 300, 300), 300)  # same tree again
    accepted(submit(witness, 300, 1000), 1000)
    # The monitoring endpoint serves the latest cosigned checkpoint, both signatures on.
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    latest = witness.get(f"{origin_hash}/checkpoint")
    assert latest.status == 200
    opened = open_cosigned(latest.body, [], [witness_verifier()])
    assert opened.text == TreeHead.parse(opened.text).text()
    assert TreeHead.parse(opened.text).size == 1000
    assert witness.get(f"{'0' * 64}/checkpoint").status == 404


def test_a_rollback_is_refused(witness: WitnessProcess) -> None:
    accepted(submit(witness, 0, 1000), 1000)
    # The DBA deleted the tail and the newest checkpoints; the log, starting over from
    # what is left, signs the smaller tree. Whatever old size it claims, no cosignature.
    claims_zero = submit(witness, 0, 600)
    assert claims_zero.status == 409
    assert claims_zero.content_type == CONFLICT_CONTENT_TYPE
    assert parse_conflict_size(claims_zero.body) == 1000  # the alarm says how far back
    claims_own = witness.post(add_checkpoint_request(600, [], checkpoint(600)))
    assert claims_own.status == 409
    claims_truth = witness.post(add_checkpoint_request(1000, [], checkpoint(600)))
    assert claims_truth.status == 400  # old size beyond the checkpoint


def test_a_fork_is_refused(witness: WitnessProcess) -> None:
    accepted(submit(witness, 0, 700), 700)
    # Same key, same origin, a different history: no proof from the witness's 700 works.
    forked = checkpoint(1000, salt=b"fork")
    for attempt in (proof(700, 1000, b"fork"), proof(700, 1000)):
        reply = witness.post(add_checkpoint_request(700, attempt, forked))
        assert reply.status == 422, reply
    same_size_other_root = witness.post(
        add_checkpoint_request(700, [], checkpoint(700, salt=b"fork"))
    )
    assert same_size_other_root.status == 422
    # After the refusals the witness still holds the honest 700 and extends it.
    accepted(submit(witness, 700, 1000), 1000)


def test_signatures_and_origins_are_checked(witness: WitnessProcess) -> None:
    wrong_key = Ed25519NoteSigner.from_private_key(ORIGIN, fixed_key("not the log"))
    assert witness.post(add_checkpoint_request(0, [], checkpoint(5, wrong_key))).status == 403
    other = Ed25519NoteSigner.from_private_key("example.com/unknown", fixed_key("log"))
    unknown = sign_note(TreeHead("example.com/unknown", 1, sha256(b"x")).text(), [other])
    assert witness.post(add_checkpoint_request(0, [], unknown)).status == 404
    tampered = checkpoint(5).replace(b"\n5\n", b"\n6\n")
    assert witness.post(add_checkpoint_request(0, [], tampered)).status == 403


def test_malformed_requests(witness: WitnessProcess) -> None:
    good = checkpoint(5)
    assert witness.post(b"old 01\n\n" + good).status == 400
    assert witness.post(b"old 0\nnot-a-hash\n\n" + good).status == 400
    assert witness.post(b"0\n\n" + good).status == 400
    assert witness.post(b"old 0\n" + good).status == 400  # no blank line before it
    with_proof = witness.post(
        add_checkpoint_request(5, [bytes(32)], good).replace(b"old 5", b"old 0")
    )
    assert with_proof.status == 422  # a proof from the empty tree
    empty_wrong_root = sign_note(TreeHead(ORIGIN, 0, sha256(b"x")).text(), [log_signer()])
    assert witness.post(add_checkpoint_request(0, [], empty_wrong_root)).status == 422
    empty = sign_note(TreeHead(ORIGIN, 0, EMPTY_ROOT).text(), [log_signer()])
    assert witness.post(add_checkpoint_request(0, [], empty)).status == 200


def test_a_cosignature_from_an_unknown_or_lying_witness_does_not_count(
    witness: WitnessProcess,
) -> None:
    reply = submit(witness, 0, 5)
    cosignatures = parse_add_checkpoint_response(reply.body)
    impostor = Cosigner.from_private_key(WITNESS_NAME, fixed_key("impostor")).verifier
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        open_cosigned(checkpoint(5), cosignatures, [impostor])
    # A genuine cosignature moved onto a different checkpoint fails outright.
    with pytest.raises(VerificationError, match="does not verify"):
        open_cosigned(checkpoint(6), cosignatures, [witness_verifier()])
