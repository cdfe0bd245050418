"""``audit_offline tiles`` audits a live tenant log from the read API and from a copy of
its layout on disk, with only the vkey and origin; each tampering is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from functions import runtime
from shared.core.tiles import tiles_for_size
from tests.conftest import TEST_LOG_ORIGIN
from tests.functions.http_support import Api
from tests.functions.test_go_reads_live_tiles import _get, _grow
from tests.integration.helpers import Dba
from tools.audit_offline import main


def _mirror(base: str, token: str, size: int, into: Path) -> None:
    """Fetch every path of the layout and save it: a directory as a publisher writes it."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "checkpoint").write_bytes(_get(f"{base}/checkpoint", token))
    for tile in tiles_for_size(size):
        paths = [tile.path()] + ([tile.entries_path()] if tile.level == 0 else [])
        for path in paths:
            (into / path).parent.mkdir(parents=True, exist_ok=True)
            (into / path).write_bytes(_get(f"{base}/{path}", token))


def test_tiles_audit_live_and_directory(
    api: Api,
    real_registry: runtime.Runtime,
    verify_url: str,
    admin_engine: Engine,
    tmp_path: Path,
    capsys: object,
) -> None:
    origin = f"{TEST_LOG_ORIGIN}/{api.tenant}"
    token = api.token("registry:read")
    vkey = json.loads(_get(f"{verify_url}/keys?tenant={api.tenant}"))["log"]["vkey"]
    base = f"{verify_url}/log"
    _grow(api, real_registry, 1100, 0)
    saved = tmp_path / "saved"
    args = ["tiles", "--vkey", vkey, "--origin", origin]
    assert main([*args, base, "--token", token, "--save-checkpoint", str(saved)]) == 0
    size = int(saved.read_text().split("\n")[1])
    assert size == 1100

    layout = tmp_path / "layout"
    _mirror(base, token, size, layout)
    assert main([*args, str(layout), "--trusted-checkpoint", str(saved)]) == 0
    assert main([*args, str(tmp_path / "nowhere")]) == 2

    other = json.loads(_get(f"{verify_url}/keys?tenant=someone-else"))["log"]["vkey"]
    assert main(["tiles", "--vkey", other, "--origin", origin, str(layout)]) == 1
    assert main(["tiles", "--vkey", vkey, "--origin", origin + "x", str(layout)]) == 1

    bundle = layout / "tile/entries/001"
    good = bundle.read_bytes()
    bundle.write_bytes(good[:40] + bytes([good[40] ^ 1]) + good[41:])
    assert main([*args, str(layout)]) == 1
    bundle.write_bytes(good)

    tile = layout / "tile/0/002"
    good = tile.read_bytes()
    tile.write_bytes(bytes([good[0] ^ 1]) + good[1:])
    assert main([*args, str(layout)]) == 1
    tile.write_bytes(good)
    assert main([*args, str(layout)]) == 0

    # A bigger saved checkpoint than the served one: rollback; a smaller one for a log
    # whose early entries changed: fork (simulated by auditing another tenant's saved
    # checkpoint is impossible, so grow and compare against the shrunk served layout).
    _grow(api, real_registry, 1400, 1100)
    newer = tmp_path / "newer"
    assert main([*args, base, "--token", token, "--trusted-checkpoint", str(saved),
                 "--save-checkpoint", str(newer)]) == 0  # fmt: skip
    assert main([*args, str(layout), "--trusted-checkpoint", str(newer), "--json"]) == 1


def test_a_dba_deleting_the_tail_and_newest_checkpoints_is_caught_by_a_saved_checkpoint(
    api: Api,
    real_registry: runtime.Runtime,
    verify_url: str,
    admin_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    origin = f"{TEST_LOG_ORIGIN}/{api.tenant}"
    token = api.token("registry:read")
    vkey = json.loads(_get(f"{verify_url}/keys?tenant={api.tenant}"))["log"]["vkey"]
    base = f"{verify_url}/log"
    args = ["tiles", "--vkey", vkey, "--origin", origin, base, "--token", token]
    _grow(api, real_registry, 1400, 0)
    saved = tmp_path / "saved"
    assert main([*args, "--save-checkpoint", str(saved)]) == 0
    assert int(saved.read_text().split("\n")[1]) == 1400

    # As a superuser would: triggers off, the last 400 records, the checkpoints over them
    # and their full tiles gone. What remains is a consistent, genuinely signed log of 1000.
    dba = Dba(admin_engine, api.tenant)
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 1000")
    dba.run("DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size > 1000")
    dba.run("DELETE FROM registry.tiles WHERE tenant_id = :t AND level = 0 AND tile_index >= 3")
    capsys.readouterr()
    assert main(args) == 0  # on its own the shorter log is self-consistent
    assert main([*args, "--trusted-checkpoint", str(saved), "--json"]) == 1
    assert "rollback" in capsys.readouterr().out
