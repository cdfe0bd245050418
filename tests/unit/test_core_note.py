from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import sha256
from shared.core.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    NoteSignature,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
    valid_key_name,
)

SPEC = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "c2sp_signed_note.json").read_text("utf-8")
)


def signer(label: str = "a", name: str = "example.com/log") -> Ed25519NoteSigner:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(sha256(label.encode()))
    return Ed25519NoteSigner.from_private_key(name, key)


def test_the_spec_example_verifies() -> None:
    verifier = Ed25519NoteVerifier.from_vkey(SPEC["vkey"])
    assert verifier.vkey == SPEC["vkey"]
    assert verifier.key_id == 0x530D903A
    opened = open_note(SPEC["note"].encode(), [verifier])
    assert opened.text == SPEC["text"]
    assert parse_note(SPEC["note"].encode()).to_bytes() == SPEC["note"].encode()


def test_key_id_is_the_spec_hash() -> None:
    public = bytes(range(32))
    digest = sha256(b"example.com/x\n\x01" + public)
    assert key_id("example.com/x", 0x01, public) == int.from_bytes(digest[:4], "big")


def test_sign_and_open_round_trip() -> None:
    s = signer()
    message = sign_note("line one\n\nline three\n", [s])
    assert message.startswith(b"line one\n\nline three\n\n\xe2\x80\x94 example.com/log ")
    opened = open_note(message, [s.verifier])
    # The text may itself hold blank lines: the *last* blank line ends it.
    assert opened.text == "line one\n\nline three\n"
    assert len(opened.verified) == 1 and not opened.unverified


def test_unknown_keys_are_ignored_but_one_trusted_signature_is_required() -> None:
    mine, other = signer("mine"), signer("other", "example.com/other")
    message = sign_note("hello\n", [other, mine])
    opened = open_note(message, [mine.verifier])
    assert [s.name for s in opened.unverified] == ["example.com/other"]
    with pytest.raises(VerificationError, match="no signature by a trusted key") as info:
        open_note(sign_note("hello\n", [other]), [mine.verifier])
    assert info.value.check == "note-signature"


def test_same_name_different_key_is_unknown_not_bad() -> None:
    # Spec: a signature sharing the name but not the key ID is from an unknown key.
    impostor = signer("impostor")
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        open_note(sign_note("hello\n", [impostor]), [signer().verifier])


def test_a_trusted_key_whose_signature_fails_rejects_the_note() -> None:
    s = signer()
    good = parse_note(sign_note("hello\n", [s]))
    forged = Note("hellO\n", good.signatures).to_bytes()
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(forged, [s.verifier])
    bad_sig = NoteSignature(s.name, s.verifier.key_id, bytes(64))
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(Note("hello\n", (bad_sig,)).to_bytes(), [s.verifier])


@pytest.mark.parametrize(
    "message",
    [
        b"no blank line\n\xe2\x80\x94 example.com/log AAAAAAA=\n",
        b"text\n\n",  # no signature lines
        b"text\n\n\xe2\x80\x94 example.com/log AAAAAAA=",  # no final newline
        b"text\n\n- example.com/log AAAAAAA=\n",  # hyphen, not em dash
        b"text\n\n\xe2\x80\x94 example.com/log not-base64!\n",
        b"text\n\n\xe2\x80\x94 example.com/log AAAA\n",  # 3 bytes: shorter than an ID + 1
        b"text\n\n\xe2\x80\x94 exa+mple AAAAAAA=\n",  # plus in the name
        b"text\n\n\xe2\x80\x94  AAAAAAA=\n",  # empty name
        b"te\txt\n\n\xe2\x80\x94 example.com/log AAAAAAA=\n",  # control character
        b"te\xffxt\n\n\xe2\x80\x94 example.com/log AAAAAAA=\n",  # not UTF-8
        b"text\n\n" + b"\xe2\x80\x94 example.com/log AAAAAAA=\n" * 101,  # too many
    ],
)
def test_malformed_notes_are_rejected(message: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_note(message)
    assert info.value.check == "note"


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo+530d903a",  # two parts
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # upper hex
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong ID
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong name
        "example.com/foo+530d903a+!!!!",
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_vkeys_are_rejected(vkey: str) -> None:
    with pytest.raises(InputError):
        Ed25519NoteVerifier.from_vkey(vkey)


def test_vkey_of_another_type_is_not_an_ed25519_key() -> None:
    public = bytes(32)
    vkey = (
        f"example.com/w+{key_id('example.com/w', 4, public):08x}+"
        + base64.b64encode(b"\x04" + public).decode()
    )
    assert parse_vkey(vkey)[2] == 4
    with pytest.raises(InputError, match="not Ed25519"):
        Ed25519NoteVerifier.from_vkey(vkey)


def test_key_names() -> None:
    assert valid_key_name("example.com/log")
    for bad in ("", "a b", "a+b", "a\u00a0b", "a\u2003b"):
        assert not valid_key_name(bad)


def test_signing_refuses_text_without_final_newline() -> None:
    with pytest.raises(InputError):
        sign_note("no newline", [signer()])
