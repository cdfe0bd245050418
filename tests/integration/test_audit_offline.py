"""tools.audit_offline: an auditor re-checks saved responses with only the public keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.principal import Principal
from shared.core.queries import get_entity, read_log
from shared.core.signing import LocalSigner
from shared.service import Registry
from tests.integration.helpers import create, skill_data
from tools.audit_offline import main

pytestmark = pytest.mark.integration


@pytest.fixture
def keys_file(registry: Registry, tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [k.to_dict() for k in registry.public_keys()]}))
    return path


def _save(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _flip_description(record: dict[str, Any]) -> dict[str, Any]:
    canonical = base64.b64decode(record["canonical"]).replace(b"Writes", b"writes")
    return {**record, "canonical": base64.b64encode(canonical).decode()}


def test_a_verify_response_checks_out_offline(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = [create(registry, admin, "Skill", skill_data()) for _ in range(4)]
    registry.sign_checkpoint(admin)
    report = registry.verify(admin, get_entity(records[2].entity_id)).to_dict()
    assert main(["record", str(_save(tmp_path, "r.json", report)), "--keys", str(keys_file)]) == 0
    assert "record seq 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        (lambda r: {**r, "record": _flip_description(r["record"])}, "content"),
        (lambda r: {**r, "previous_chain_hash": "00" * 32}, "chain_hash"),
        (
            lambda r: {**r, "inclusion_proof": {**r["inclusion_proof"], "leaf_index": 0}},
            "inclusion",
        ),
        (
            lambda r: {**r, "checkpoint": {**r["checkpoint"], "tree_size": 3}},
            "checkpoint_signature",
        ),
    ],
)
def test_a_tampered_verify_response_is_refused(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: Any,
    check: str,
) -> None:
    records = [create(registry, admin, "Skill", skill_data()) for _ in range(4)]
    registry.sign_checkpoint(admin)
    report = tamper(registry.verify(admin, get_entity(records[1].entity_id)).to_dict())
    assert main(["record", str(_save(tmp_path, "r.json", report)), "--keys", str(keys_file)]) == 1
    assert f"{check}:" in capsys.readouterr().err


def test_an_untrusted_key_fails_offline(
    registry: Registry, admin: Principal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    other = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
    keys = _save(tmp_path, "k.json", {"keys": [other.public_key.to_dict()]})
    report = _save(
        tmp_path, "r.json", registry.verify(admin, get_entity(record.entity_id)).to_dict()
    )
    assert main(["record", str(report), "--keys", str(keys)]) == 1
    assert "key:" in capsys.readouterr().err


def test_an_exported_log_checks_out_against_its_checkpoint(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(5):
        create(registry, admin, "Skill", skill_data())
    checkpoint = _save(tmp_path, "cp.json", registry.sign_checkpoint(admin).to_dict())
    pages = [
        {
            "items": [
                r.to_dict() for r in registry.log(admin, read_log(from_seq=start, limit=2)).items
            ]
        }
        for start in (1, 3, 5)
    ]
    log = _save(tmp_path, "log.json", pages)
    args = ["log", str(log), "--keys", str(keys_file), "--checkpoint", str(checkpoint)]
    assert main(args) == 0
    assert "5 records verified" in capsys.readouterr().out
    # Drop the newest record: the signed checkpoint still says 5.
    truncated = _save(tmp_path, "log.json", pages[:2])
    assert main(["log", str(truncated), *args[2:]]) == 1
    assert "truncation:" in capsys.readouterr().err
    # Remove one in the middle: the gap is named.
    pages[1]["items"].pop(0)
    _save(tmp_path, "log.json", pages)
    assert main(args) == 1
    assert "INVALID at seq 3: seq:" in capsys.readouterr().err


def test_the_log_audit_mode_decides_which_signatures_are_checked(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    checkpoint = _save(tmp_path, "cp.json", registry.sign_checkpoint(admin).to_dict())
    items = [r.to_dict() for r in registry.log(admin, read_log(from_seq=1, limit=10)).items]
    signature = bytearray(base64.b64decode(items[1]["signature"]))
    signature[0] ^= 1
    items[1]["signature"] = base64.b64encode(bytes(signature)).decode()
    log = _save(tmp_path, "log.json", items)
    args = ["log", str(log), "--keys", str(keys_file), "--checkpoint", str(checkpoint)]
    # The signed root proves every covered record's bytes; the roots mode says it left
    # their signature columns alone, the signatures mode checks them.
    assert main(args) == 0
    assert "roots mode, 0 record signature(s) checked" in capsys.readouterr().out
    assert main([*args, "--mode", "signatures"]) == 1
    assert "INVALID at seq 2: signature:" in capsys.readouterr().err


def _consistency_files(
    registry: Registry, admin: Principal, tmp_path: Path
) -> tuple[Path, Path, Path]:
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    old = _save(tmp_path, "old.json", registry.sign_checkpoint(admin).to_dict())
    for _ in range(4):
        create(registry, admin, "Skill", skill_data())
    new = _save(tmp_path, "new.json", registry.sign_checkpoint(admin).to_dict())
    proof = _save(tmp_path, "proof.json", registry.consistency(admin, 3, 7).to_dict())
    return old, new, proof


def test_a_newer_checkpoint_extends_the_saved_one_offline(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new, proof = _consistency_files(registry, admin, tmp_path)
    args = ["consistency", str(old), str(new), "--proof", str(proof), "--keys", str(keys_file)]
    assert main(args) == 0
    assert "tree size 7 extends the saved one of 3" in capsys.readouterr().out
    # Just the proof object works too, and a checkpoint is consistent with itself.
    bare = _save(tmp_path, "bare.json", json.loads(proof.read_text())["proof"])
    assert main([*args[:4], str(bare), *args[5:]]) == 0
    same = ["consistency", str(new), str(new), "--proof", str(bare), "--keys", str(keys_file)]
    assert main(same) == 0


def _tampered_proof(document: dict[str, Any]) -> dict[str, Any]:
    document["proof"]["hashes"][0] = "00" * 32
    return document


def _other_sizes(document: dict[str, Any]) -> dict[str, Any]:
    document["proof"]["first_size"] = 2
    return document


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("tampered proof", "fork"),
        ("proof for other sizes", "proof"),
        ("shrunk tree", "rollback"),
        ("another root for the saved size", "fork"),
        ("untrusted key", "checkpoint_key"),
        ("edited checkpoint", "checkpoint_signature"),
    ],
)
def test_the_offline_consistency_check_names_each_failure(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    check: str,
) -> None:
    old, new, proof = _consistency_files(registry, admin, tmp_path)
    keys = keys_file
    if case == "tampered proof":
        _save(tmp_path, "proof.json", _tampered_proof(json.loads(proof.read_text())))
    elif case == "proof for other sizes":
        _save(tmp_path, "proof.json", _other_sizes(json.loads(proof.read_text())))
    elif case == "shrunk tree":
        old, new = new, old
    elif case == "another root for the saved size":
        saved = Checkpoint.from_dict(json.loads(new.read_text()))
        forked = sign_checkpoint(
            tenant_id=saved.tenant_id,
            tree_size=saved.tree_size,
            root_hash=b"\x09" * 32,
            chain_head=saved.chain_head,
            created_at=saved.created_at,
            signer=registry.signer,  # the service's own key: an equivocation
        )
        old = _save(tmp_path, "old.json", saved.to_dict())
        new = _save(tmp_path, "forked.json", forked.to_dict())
    elif case == "untrusted key":
        other = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())
        keys = _save(tmp_path, "k.json", {"keys": [other.public_key.to_dict()]})
    else:
        document = json.loads(new.read_text())
        document["root_hash"] = "11" * 32
        _save(tmp_path, "new.json", document)
    args = ["consistency", str(old), str(new), "--proof", str(proof), "--keys", str(keys)]
    assert main(args) == 1
    assert f"INVALID: {check}:" in capsys.readouterr().err


def test_a_saved_first_page_is_incomplete_not_removed(
    registry: Registry,
    admin: Principal,
    keys_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(5):
        create(registry, admin, "Skill", skill_data())
    checkpoint = _save(tmp_path, "cp.json", registry.sign_checkpoint(admin).to_dict())
    first = registry.log(admin, read_log(from_seq=1, limit=2))
    page = {"items": [r.to_dict() for r in first.items], "next_from_seq": first.next_from_seq}
    log = _save(tmp_path, "log.json", page)
    args = ["log", str(log), "--keys", str(keys_file), "--checkpoint", str(checkpoint)]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.startswith("INCOMPLETE:") and "from seq 3" in err
    # The same page without a checkpoint holds, and says it is not the whole log.
    assert main(args[:4]) == 0
    assert "more follow from seq 3" in capsys.readouterr().out
    # A last page that says the log ends there, yet short of the checkpoint: removal.
    _save(tmp_path, "log.json", {**page, "next_from_seq": None})
    assert main(args) == 1
    assert "truncation:" in capsys.readouterr().err
