"""tools.audit_offline: an auditor re-checks saved responses with only the public keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

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
    checkpoint = _save(tmp_path, "cp.json", registry.latest_checkpoint(admin).to_dict())
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
