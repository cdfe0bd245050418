"""plant audit: an export, a saved file; tampering versus an incomplete export."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519

from plant.audit import ExportSource, FileSource, IncompleteExportError, audit_source
from plant.cli import main
from plant.errors import EvidenceError
from shared.core.audit import AuditMode
from shared.core.signing import LocalSigner
from tests.cli.plant_support import signed_log, write_export


def _audit(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["audit", *args])
    # The progress bar shares stderr; the verdict is the last line.
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    return result.exit_code, result.stdout, last


def test_a_complete_export_audits_with_every_checkpoint(
    tmp_path: Path, signer: LocalSigner
) -> None:
    log = signed_log(12, signer)
    export = write_export(tmp_path / "x", log, checkpoint_sizes=(4, 8, 12))
    result = audit_source(ExportSource(export))
    assert (result.records, result.checkpoints, result.largest_checkpoint) == (12, 3, 12)
    code, out, _ = _audit(str(export))
    assert code == 0
    assert out.startswith("OK: 12 records verified in order, matching 3 signed checkpoint(s)")
    assert "records/s" in out


def _tamper_line(export: Path, index: int) -> None:
    lines = (export / "log.jsonl").read_bytes().splitlines(keepends=True)
    record = json.loads(lines[index])
    canonical = base64.b64decode(record["canonical"]).replace(b"Made by", b"Made bY")
    record["canonical"] = base64.b64encode(canonical).decode()
    lines[index] = json.dumps(record, sort_keys=True).encode() + b"\n"
    data = b"".join(lines)
    (export / "log.jsonl").write_bytes(data)
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["log_bytes"] = len(data)
    (export / "manifest.json").write_text(json.dumps(manifest))


def test_a_tampered_record_is_named_by_seq_and_check(tmp_path: Path, signer: LocalSigner) -> None:
    export = write_export(tmp_path / "x", signed_log(10, signer))
    _tamper_line(export, 6)
    with pytest.raises(EvidenceError) as caught:
        audit_source(ExportSource(export))
    assert (caught.value.seq, caught.value.check) == (7, "content")
    code, _, err = _audit(str(export))
    assert code == 1
    assert err.startswith("INVALID: content at seq 7: record seq 7:")


def test_an_export_that_stopped_is_incomplete_not_tampered(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(10, signer), records=4, complete=False)
    with pytest.raises(IncompleteExportError) as caught:
        audit_source(ExportSource(export))
    assert (caught.value.records, caught.value.checkpoint_size) == (4, 10)
    code, _, err = _audit(str(export))
    assert code == 3
    assert "INCOMPLETE" in err and "records 1..4 of the 10" in err
    assert "plant export" in err and "removed" not in err


def test_a_complete_export_shorter_than_its_checkpoint_means_records_were_removed(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(10, signer), records=4, complete=True)
    with pytest.raises(EvidenceError) as caught:
        audit_source(ExportSource(export))
    assert caught.value.check == "truncation"
    code, _, err = _audit(str(export))
    assert code == 1
    assert "records were removed" in err


def test_a_saved_first_page_is_an_incomplete_export(tmp_path: Path, signer: LocalSigner) -> None:
    log = signed_log(6, signer)
    page = {"items": [r.to_dict() for r in log.records[:3]], "next_from_seq": 4}
    (tmp_path / "page.json").write_text(json.dumps(page))
    (tmp_path / "keys.json").write_text(json.dumps(log.keys_document()))
    (tmp_path / "cp.json").write_text(json.dumps(log.checkpoint(6).to_dict()))
    source = FileSource(tmp_path / "page.json", tmp_path / "keys.json", [tmp_path / "cp.json"])
    with pytest.raises(IncompleteExportError):
        audit_source(source)
    args = ["--keys", str(tmp_path / "keys.json"), "--checkpoint", str(tmp_path / "cp.json")]
    code, _, err = _audit(str(tmp_path / "page.json"), *args)
    assert code == 3 and "is incomplete" in err
    # The same records as the last page (nothing follows) are a truncated log.
    page["next_from_seq"] = None
    (tmp_path / "page.json").write_text(json.dumps(page))
    code, _, err = _audit(str(tmp_path / "page.json"), *args)
    assert code == 1 and "records were removed" in err


def test_a_half_written_page_past_the_manifest_is_ignored(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(5, signer))
    with (export / "log.jsonl").open("ab") as log:
        log.write(b'{"seq": 6, "truncat')
    assert audit_source(ExportSource(export)).records == 5


def test_a_key_the_export_does_not_trust_fails_the_audit(
    tmp_path: Path, signer: LocalSigner
) -> None:
    other = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
    export = write_export(tmp_path / "x", signed_log(3, other))
    (export / "keys.json").write_text(json.dumps(signed_log(1, signer).keys_document()))
    code, _, err = _audit(str(export))
    assert code == 1
    assert err.startswith("INVALID: key at seq 1: ")


def _break_signature(export: Path, index: int) -> None:
    lines = (export / "log.jsonl").read_bytes().splitlines(keepends=True)
    record = json.loads(lines[index])
    signature = bytearray(base64.b64decode(record["signature"]))
    signature[5] ^= 1
    record["signature"] = base64.b64encode(bytes(signature)).decode()
    lines[index] = json.dumps(record, sort_keys=True).encode() + b"\n"
    data = b"".join(lines)
    (export / "log.jsonl").write_bytes(data)
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["log_bytes"] = len(data)
    (export / "manifest.json").write_text(json.dumps(manifest))


def test_the_mode_decides_which_record_signatures_are_checked(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(12, signer), checkpoint_sizes=(8,))
    code, out, _ = _audit(str(export))
    assert code == 0
    assert "; roots mode, 4 record signature(s) checked" in out  # seqs 9..12, no root
    code, out, _ = _audit(str(export), "--mode", "signatures")
    assert code == 0
    assert "; signatures mode, 12 record signature(s) checked" in out
    # A covered record's signature column: the signed root proves its bytes, only the
    # signatures mode looks at it; beyond the checkpoint both modes do.
    _break_signature(export, 2)
    assert _audit(str(export))[0] == 0
    code, _, err = _audit(str(export), "--mode", "signatures")
    assert (code, err.split(":")[0]) == (1, "INVALID")
    assert err.startswith("INVALID: signature at seq 3")
    _break_signature(export, 10)
    code, _, err = _audit(str(export))
    assert (code, err.startswith("INVALID: signature at seq 11")) == (1, True)


def test_the_signatures_mode_uses_worker_processes_for_a_long_log(
    tmp_path: Path, signer: LocalSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plant import audit as plant_audit

    monkeypatch.setattr(plant_audit, "CHUNK", 4)
    export = write_export(tmp_path / "x", signed_log(12, signer), checkpoint_sizes=(12,))
    _break_signature(export, 9)
    with pytest.raises(EvidenceError) as caught:
        audit_source(ExportSource(export), mode=AuditMode.SIGNATURES, workers=2)
    assert (caught.value.seq, caught.value.check) == (10, "signature")


# 600 records: two full level-0 tiles, a partial one of 88 and a level-1 tile of 2.
TILED = 600


def test_exported_tiles_are_rebuilt_from_the_records_and_match(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(TILED, signer), tile_size=TILED)
    assert sorted(p.name for p in (export / "tiles").rglob("*") if p.is_file()) == [
        "000",
        "001",
        "2",
        "88",
    ]
    result = audit_source(ExportSource(export))
    assert (result.records, result.tiles) == (TILED, 4)
    code, out, _ = _audit(str(export))
    assert code == 0 and "4 tile(s) matching the records" in out


def test_partial_tiles_are_checked_at_the_size_they_were_fetched_at(
    tmp_path: Path, signer: LocalSigner
) -> None:
    # An export resumed after its tiles were fetched at 300 records: the partial tile of
    # 44 hashes (and the level-1 tile of 1) are those of seq 300, not of the end.
    export = write_export(tmp_path / "x", signed_log(TILED, signer), tile_size=300)
    assert audit_source(ExportSource(export)).tiles == 3


@pytest.mark.parametrize("tile", ["tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"])
def test_a_tile_that_differs_from_the_records_is_named(
    tmp_path: Path, signer: LocalSigner, tile: str
) -> None:
    export = write_export(tmp_path / "x", signed_log(TILED, signer), tile_size=TILED)
    path = export / "tiles" / tile
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError) as caught:
        audit_source(ExportSource(export))
    assert caught.value.check == "tiles"
    assert tile in str(caught.value)
    code, _, err = _audit(str(export))
    assert code == 1 and "tiles" in err


def test_tiles_beyond_the_records_make_the_export_inconsistent(
    tmp_path: Path, signer: LocalSigner
) -> None:
    export = write_export(tmp_path / "x", signed_log(TILED, signer), tile_size=TILED)
    (export / "tiles" / "tile" / "0" / "003").write_bytes(bytes(8192))
    with pytest.raises(EvidenceError) as caught:
        audit_source(ExportSource(export))
    assert caught.value.check == "tiles"
    assert "beyond the 600 records" in str(caught.value)
