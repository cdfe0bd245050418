from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import sha256
from shared.core.note import NoteSignature, key_id
from shared.core.witness import (
    CosignatureVerifier,
    Cosigner,
    add_checkpoint_request,
    cosignature_timestamp,
    cosigned_message,
    parse_add_checkpoint_request,
    parse_add_checkpoint_response,
    parse_conflict_size,
)

TEXT = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def cosigner(label: str = "w") -> Cosigner:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(sha256(label.encode()))
    return Cosigner.from_private_key("witness.example.com/w1", key)


def test_the_signed_message_is_the_spec_layout() -> None:
    assert cosigned_message(TEXT, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + TEXT


def test_cosign_and_verify() -> None:
    w = cosigner()
    line = w.cosign(TEXT, 1679315147)
    assert line.key_id == key_id(w.name, 0x04, w.public_key)
    assert len(line.signature) == 8 + 64
    assert cosignature_timestamp(line) == 1679315147
    assert w.verifier.verify(TEXT, line.signature)
    assert not w.verifier.verify(TEXT.replace(b"3\n", b"4\n"), line.signature)
    # The timestamp is signed: changing it breaks the signature.
    moved = (1679315148).to_bytes(8, "big") + line.signature[8:]
    assert not w.verifier.verify(TEXT, moved)
    assert not cosigner("other").verifier.verify(TEXT, line.signature)


def test_cosignature_vkeys_round_trip_and_are_typed() -> None:
    w = cosigner()
    vkey = w.verifier.vkey
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert CosignatureVerifier.from_vkey(vkey) == w.verifier
    with pytest.raises(InputError, match="not cosignature/v1"):
        CosignatureVerifier.from_vkey(
            vkey.split("+")[0]
            + f"+{key_id(w.name, 1, w.public_key):08x}+"
            + base64.b64encode(b"\x01" + w.public_key).decode()
        )


def test_timestamps_must_be_positive() -> None:
    with pytest.raises(InputError):
        cosigner().cosign(TEXT, 0)


def test_request_body_round_trip() -> None:
    proof = [sha256(b"a"), sha256(b"b")]
    note = TEXT + b"\n\xe2\x80\x94 example.com/behind-the-sofa AAAAAAA=\n"
    body = add_checkpoint_request(20852014, proof, note)
    b64 = [base64.b64encode(h) for h in proof]
    assert body == b"old 20852014\n" + b64[0] + b"\n" + b64[1] + b"\n\n" + note
    parsed = parse_add_checkpoint_request(body)
    assert (parsed.old_size, list(parsed.proof), parsed.checkpoint) == (20852014, proof, note)
    assert parse_add_checkpoint_request(add_checkpoint_request(0, [], note)).proof == ()


@pytest.mark.parametrize(
    "body",
    [
        b"old 1\n",
        b"old -1\n\nx",
        b"old 01\n\nx",
        b"new 1\n\nx",
        b"old 1\n" + b"AAAA\n" + b"\nx",  # 3 bytes, not a hash
        b"old 1\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nx",  # 64 lines
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(InputError):
        parse_add_checkpoint_request(body)


def test_request_building_follows_the_rules() -> None:
    with pytest.raises(InputError):
        add_checkpoint_request(0, [bytes(32)], b"")
    with pytest.raises(InputError):
        add_checkpoint_request(5, [bytes(32)] * 64, b"")


def test_responses() -> None:
    line = cosigner().cosign(TEXT, 5)
    assert parse_add_checkpoint_response(line.line().encode()) == (line,)
    with pytest.raises(VerificationError):
        parse_add_checkpoint_response(b"- not a signature line\n")
    assert parse_conflict_size(b"20852014\n") == 20852014
    for bad in (b"", b"12", b"012\n", b"x\n"):
        with pytest.raises(VerificationError):
            parse_conflict_size(bad)
    assert isinstance(line, NoteSignature)
