"""Checkpoints as C2SP signed notes: the bytes, the round trip, and what must not verify."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.checkpoints import (
    NOTE_CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointSigner,
    sign_checkpoint,
)
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import sha256
from shared.core.note import Ed25519NoteVerifier, Note, open_note, parse_note
from shared.core.signing import LocalSigner, PublicKey
from shared.core.tlog import TreeHead, open_checkpoint, origin_tenant, tenant_origin
from shared.core.verification import verify_checkpoint
from shared.core.witness import CosignatureVerifier, cosignature_timestamp

LOG_ORIGIN = "registry.example.com/plant"
ROOT = sha256(b"root")
CHAIN = sha256(b"chain")
SIGNED_AT = datetime(2026, 12, 2, 13, 45, 7, 654321, tzinfo=UTC)


def fixed_key(label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(sha256(label.encode()))


def checkpoint_key(label: str = "checkpoint key", origin: str = LOG_ORIGIN) -> CheckpointSigner:
    private = fixed_key(label)
    return CheckpointSigner(origin, PublicKey.from_key(private.public_key()), private.sign)


def trusted(key: CheckpointSigner) -> dict[str, PublicKey]:
    return {key.key_id: key.public_key}


def signed(
    key: CheckpointSigner | None = None, tenant: str = "acme", size: int = 3, root: bytes = ROOT
) -> Checkpoint:
    return sign_checkpoint(
        tenant_id=tenant,
        tree_size=size,
        root_hash=root,
        chain_head=CHAIN,
        created_at=SIGNED_AT,
        signer=key or checkpoint_key(),
    )


# Ed25519 is deterministic, so a fixed key, tree and time give these bytes exactly: any
# change to the note layout, the key ID or the cosignature message changes them. Go's
# sumdb/note opens this very note in tests/interop.
GOLDEN_NOTE = (
    "registry.example.com/plant/acme\n"
    "3\n"
    "SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n"
    "\n"
    "— registry.example.com/plant/acme 1O45j5w6bXVSyBJ+z6uL3RQneKZJvNxnZpxe6F7tNXcWAQvgglk2FNim"
    "0A4mv/VR73chPN8vQ7g6I3ulINEtP/kHuwM=\n"
    "— registry.example.com/plant/acme V8Io9AAAAABrECDjQksBwGCb6daWXxekNAnf/1DMw0veBuQtIPCExl0++"
    "9VjaIlcCeC75zeyeYU+bERp5lziHqzQ/6v2rixqlgE4Bg==\n"
)


def test_the_note_is_a_c2sp_checkpoint_signed_twice_by_the_log_key() -> None:
    key = checkpoint_key()
    checkpoint = signed(key)
    assert checkpoint.note is not None
    note = parse_note(checkpoint.note)
    # The body is exactly the tlog-checkpoint body: origin, size, base64 root.
    assert note.text == TreeHead(f"{LOG_ORIGIN}/acme", 3, ROOT).text()
    assert [s.name for s in note.signatures] == [f"{LOG_ORIGIN}/acme"] * 2
    # A tlog-tiles client holding the vkey opens it (the 0x04 line is an unknown key).
    head = open_checkpoint(
        checkpoint.note,
        origin=f"{LOG_ORIGIN}/acme",
        verifiers=[Ed25519NoteVerifier.from_vkey(key.vkey("acme"))],
    )
    assert (head.size, head.root_hash) == (3, ROOT)
    # The second line is a tlog-cosignature/v1 by the same key, and carries the time.
    clock = CosignatureVerifier(f"{LOG_ORIGIN}/acme", key.raw_public_key)
    opened = open_note(checkpoint.note, [clock])
    assert cosignature_timestamp(opened.verified[0]) == int(SIGNED_AT.timestamp())
    assert checkpoint.created_at == SIGNED_AT.replace(microsecond=0)
    verify_checkpoint(checkpoint, trusted(key))


def test_golden_note_bytes() -> None:
    checkpoint = signed()
    assert checkpoint.note is not None
    assert checkpoint.note.decode() == GOLDEN_NOTE
    # The cosignature's first 8 bytes after the key ID are the time, big-endian.
    cosignature = base64.b64decode(GOLDEN_NOTE.split("\n")[5].rpartition(" ")[2])
    assert int.from_bytes(cosignature[4:12], "big") == int(SIGNED_AT.timestamp())


def test_vkey_is_name_hash_base64_of_the_tenant_log() -> None:
    key = checkpoint_key()
    name, key_hash, material = key.vkey("acme").split("+", 2)
    assert name == f"{LOG_ORIGIN}/acme"
    assert len(key_hash) == 8
    assert base64.b64decode(material) == b"\x01" + key.raw_public_key
    assert key.vkey("acme") != key.vkey("other")  # one log, one key name, per tenant


def test_round_trip_keeps_the_note_and_drops_nothing() -> None:
    checkpoint = signed()
    document = checkpoint.to_dict()
    assert document["format"] == NOTE_CHECKPOINT_FORMAT
    assert document["origin"] == f"{LOG_ORIGIN}/acme"
    assert "signature" not in document
    assert Checkpoint.from_dict(document) == checkpoint


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tree_size": 4}, "size"),
        ({"root_hash": sha256(b"other root")}, "root"),
        ({"created_at": SIGNED_AT.replace(microsecond=0, second=8)}, "time"),
    ],
)
def test_fields_that_disagree_with_the_note_fail(change: dict[str, object], field: str) -> None:
    key = checkpoint_key()
    changed = dataclasses.replace(signed(key), **change)  # type: ignore[arg-type]
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(changed, trusted(key))
    assert info.value.check == "checkpoint_signature", field


def test_a_changed_note_fails() -> None:
    key = checkpoint_key()
    checkpoint = signed(key)
    assert checkpoint.note is not None
    forged = dataclasses.replace(
        checkpoint, tree_size=4, note=checkpoint.note.replace(b"\n3\n", b"\n4\n", 1)
    )
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(forged, trusted(key))


def test_another_tenants_note_fails_even_though_our_key_signed_it() -> None:
    key = checkpoint_key()
    theirs = signed(key, tenant="other")
    copied = dataclasses.replace(signed(key), note=theirs.note)
    with pytest.raises(VerificationError, match="not tenant 'acme'"):
        verify_checkpoint(copied, trusted(key))


def test_a_note_without_its_timestamp_fails() -> None:
    key = checkpoint_key()
    checkpoint = signed(key)
    assert checkpoint.note is not None
    note = parse_note(checkpoint.note)
    stripped = Note(note.text, note.signatures[:1]).to_bytes()
    with pytest.raises(VerificationError, match="its time"):
        verify_checkpoint(dataclasses.replace(checkpoint, note=stripped), trusted(key))


def test_a_note_by_another_key_fails() -> None:
    ours, theirs = checkpoint_key(), checkpoint_key("another key")
    forged = dataclasses.replace(signed(theirs), key_id=ours.key_id)
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        verify_checkpoint(forged, trusted(ours))
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(signed(theirs), trusted(ours))
    assert info.value.check == "checkpoint_key"


def test_pre_note_json_checkpoints_still_verify(ed25519_signer: LocalSigner) -> None:
    legacy = signed(ed25519_signer)  # type: ignore[arg-type]
    assert legacy.note is None and legacy.origin is None
    keys = {ed25519_signer.key_id: ed25519_signer.public_key}
    verify_checkpoint(legacy, keys)
    assert Checkpoint.from_dict(legacy.to_dict()) == legacy
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(dataclasses.replace(legacy, tree_size=4), keys)
    assert info.value.check == "checkpoint_signature"


def test_a_checkpoint_key_is_ed25519(p256_signer: LocalSigner) -> None:
    with pytest.raises(InputError, match="Ed25519"):
        CheckpointSigner(LOG_ORIGIN, p256_signer.public_key, p256_signer.sign)


def test_tenant_ids_with_plus_get_an_origin_that_names_them() -> None:
    origin = tenant_origin(LOG_ORIGIN, "team+blue")
    assert origin == f"{LOG_ORIGIN}/team%2Bblue"
    assert origin_tenant(origin) == "team+blue"
    key = checkpoint_key()
    verify_checkpoint(signed(key, tenant="team+blue"), trusted(key))
