"""Go's golang.org/x/mod/sumdb note and tlog packages check what our core produces.

An implementation we did not write opens our signed checkpoints, reads our tiles through
its authenticating TileHashReader, proves and checks inclusion of entries taken from our
entry bundles and consistency between our checkpoints; and we open notes that Go signed.
Every positive case has a tampered twin that Go must reject.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from shared.core.errors import VerificationError
from shared.core.note import Ed25519NoteVerifier, open_note
from shared.core.tiles import Tile
from tests.interop.go_support import TlogCheck
from tests.interop.interop_support import (
    ORIGIN,
    DiskLog,
    entries,
    log_signer,
    signed_checkpoint,
    write_log,
)
from tests.unit.test_core_checkpoint_notes import GOLDEN_NOTE, checkpoint_key

SIZE = 1000  # three full level-0 tiles, a partial one, a partial level-1 tile


@pytest.fixture(scope="module")
def disk_log(tmp_path_factory: pytest.TempPathFactory) -> DiskLog:
    return write_log(tmp_path_factory.mktemp("log"), entries(SIZE), log_signer())


def _verify(tool: TlogCheck, base: Path, *extra: str, vkey: str | None = None) -> dict[str, object]:
    result = tool.run(
        "verify",
        "-vkey",
        vkey or log_signer().verifier.vkey,
        "-origin",
        ORIGIN,
        "-base",
        str(base),
        *extra,
    )
    assert result.returncode in (0, 1), result.stderr
    assert result.report["ok"] is (result.returncode == 0)
    return result.report


def _copy(log: DiskLog, target: Path) -> Path:
    import shutil

    shutil.copytree(log.base, target)
    return target


def test_go_verifies_checkpoint_tiles_entries_and_inclusion(
    tlogcheck: TlogCheck, disk_log: DiskLog
) -> None:
    report = _verify(tlogcheck, disk_log.base, "-index", "0,255,256,511,999", "-entries")
    assert report["ok"], report
    assert report["size"] == SIZE
    assert report["proved"] == 5
    assert report["entries_rehashed"] == SIZE


def test_go_checks_consistency_with_an_older_checkpoint(
    tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path
) -> None:
    for old_size in (1, 255, 256, 700, SIZE):
        old = tmp_path / f"old-{old_size}"
        old.write_bytes(signed_checkpoint(entries(old_size), log_signer()))
        report = _verify(tlogcheck, disk_log.base, "-old", str(old))
        assert report["ok"] and report["consistent_with_old"], report
        assert report["old_size"] == old_size


def test_go_rejects_a_changed_entry(
    tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path
) -> None:
    base = _copy(disk_log, tmp_path / "log")
    bundle = base / Tile(0, 1).entries_path()
    data = bytearray(bundle.read_bytes())
    data[10] ^= 0x01  # inside the first entry's bytes, length prefix untouched
    bundle.write_bytes(bytes(data))
    report = _verify(tlogcheck, base, "-index", "256")
    assert not report["ok"] and "check record 256" in str(report["error"]), report
    report = _verify(tlogcheck, base, "-entries")
    assert not report["ok"] and "entry 256 does not hash" in str(report["error"]), report


@pytest.mark.parametrize(
    ("tile", "index", "failure"),
    [
        # Tiles on the tree hash's path are authenticated against the checkpoint root.
        (Tile(1, 0, SIZE // 256), "300", "downloaded inconsistent tile"),
        (Tile(0, 3, SIZE % 256), "999", "downloaded inconsistent tile"),
        # A full tile below them: x/mod 0.7.0's TileHashReader does not re-authenticate
        # it against its parent here (its loop starts at len(stx), not at the number of
        # distinct stx tiles), but the changed hash still breaks the proof that uses it.
        (Tile(0, 1), "300", "check record 300: invalid transparency proof"),
    ],
)
def test_go_rejects_a_changed_tile_hash(
    tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path, tile: Tile, index: str, failure: str
) -> None:
    base = _copy(disk_log, tmp_path / "log")
    path = base / tile.path()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x80
    path.write_bytes(bytes(data))
    report = _verify(tlogcheck, base, "-index", index)
    assert not report["ok"] and failure in str(report["error"]), report
    # And re-hashing the entry bundles catches the changed leaf hash that slipped through.
    if tile == Tile(0, 1):
        report = _verify(tlogcheck, base, "-entries")
        assert not report["ok"] and "does not hash to its level-0 tile hash" in str(
            report["error"]
        ), report


def test_go_rejects_a_wrong_key(tlogcheck: TlogCheck, disk_log: DiskLog) -> None:
    other = log_signer("another key").verifier.vkey  # same name, different key
    report = _verify(tlogcheck, disk_log.base, vkey=other)
    assert not report["ok"] and "checkpoint note" in str(report["error"]), report


def test_go_rejects_a_shrunk_tree(tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path) -> None:
    # A DBA deletes the tail: the log now serves a smaller (genuinely signed) tree, but
    # the client remembers the bigger one.
    shrunk = write_log(tmp_path / "shrunk", entries(600), log_signer())
    old = tmp_path / "old"
    old.write_bytes(disk_log.checkpoint)
    report = _verify(tlogcheck, shrunk.base, "-old", str(old))
    assert not report["ok"] and "shrank from 1000 to 600" in str(report["error"]), report


def test_go_rejects_a_fork(tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path) -> None:
    # The same key signed a different history of 700 entries: not a prefix of this log.
    old = tmp_path / "forked-old"
    old.write_bytes(signed_checkpoint(entries(700, salt=b"fork"), log_signer()))
    report = _verify(tlogcheck, disk_log.base, "-old", str(old))
    assert not report["ok"] and "check tree 700 -> 1000" in str(report["error"]), report


def test_go_rejects_a_checkpoint_of_another_origin(tlogcheck: TlogCheck, disk_log: DiskLog) -> None:
    result = tlogcheck.run(
        "verify",
        "-vkey",
        log_signer().verifier.vkey,
        "-origin",
        ORIGIN + "-other",
        "-base",
        str(disk_log.base),
    )
    assert result.returncode == 1 and "origin" in str(result.report["error"])


# --- signed-note byte format, both directions -----------------------------------------


def test_go_opens_notes_we_sign(tlogcheck: TlogCheck, disk_log: DiskLog, tmp_path: Path) -> None:
    note_file = tmp_path / "checkpoint"
    note_file.write_bytes(disk_log.checkpoint)
    verifier = log_signer().verifier
    result = tlogcheck.run("open", "-vkey", verifier.vkey, "-note", str(note_file))
    assert result.returncode == 0, result.stderr
    assert result.report["text"] == disk_log.checkpoint.decode().split("\n\n")[0] + "\n"
    # Go accepted our vkey, so it computed the same key ID from name, type and key.
    assert result.report["key_hash"] == f"{verifier.key_id:08x}"

    tampered = tmp_path / "tampered"
    tampered.write_bytes(disk_log.checkpoint.replace(b"\n1000\n", b"\n1001\n"))
    result = tlogcheck.run("open", "-vkey", verifier.vkey, "-note", str(tampered))
    assert result.returncode == 1 and "invalid signature" in result.stderr


def test_we_open_notes_go_signs(tlogcheck: TlogCheck, tmp_path: Path) -> None:
    text = tmp_path / "text"
    text.write_bytes(b"example.com/go-signed\n42\n" + base64.b64encode(bytes(32)) + b"\n")
    result = tlogcheck.run("sign", "-name", "example.com/go-signed", "-text", str(text))
    assert result.returncode == 0, result.stderr
    vkey, message = str(result.report["vkey"]), base64.b64decode(str(result.report["note"]))
    verifier = Ed25519NoteVerifier.from_vkey(vkey)
    assert verifier.vkey == vkey  # our encoding of Go's key is Go's encoding
    opened = open_note(message, [verifier])
    assert opened.text.encode() == text.read_bytes()
    assert [s.key_id for s in opened.verified] == [verifier.key_id]

    with pytest.raises(VerificationError, match="does not verify"):
        open_note(message.replace(b"\n42\n", b"\n43\n"), [verifier])


# --- the service's checkpoint notes ---------------------------------------------------


def test_go_opens_our_checkpoint_note_with_our_vkey(tlogcheck: TlogCheck, tmp_path: Path) -> None:
    # The pinned bytes of tests/unit/test_core_checkpoint_notes.py: the note text plus
    # the log's Ed25519 signature (0x01) and its timestamped cosignature (0x04).
    key = checkpoint_key()
    note_file = tmp_path / "checkpoint"
    note_file.write_bytes(GOLDEN_NOTE.encode())
    result = tlogcheck.run("open", "-vkey", key.vkey("acme"), "-note", str(note_file))
    assert result.returncode == 0, result.stderr
    assert result.report["text"] == GOLDEN_NOTE.split("\n\n")[0] + "\n"
    # Go verified the 0x01 line and set the 0x04 line aside as an unknown key's.
    assert (result.report["signatures"], result.report["unverified"]) == (1, 1)

    # Another key under the same name, and the right key under another tenant's name.
    for vkey in (checkpoint_key("another key").vkey("acme"), key.vkey("other")):
        refused = tlogcheck.run("open", "-vkey", vkey, "-note", str(note_file))
        assert refused.returncode == 1, refused.stderr
        assert "no verifiable signatures" in refused.stderr

    changed = tmp_path / "changed"
    changed.write_bytes(GOLDEN_NOTE.replace("\n3\n", "\n4\n").encode())
    refused = tlogcheck.run("open", "-vkey", key.vkey("acme"), "-note", str(changed))
    assert refused.returncode == 1 and "invalid signature" in refused.stderr
