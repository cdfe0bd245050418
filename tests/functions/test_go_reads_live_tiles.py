"""Go's x/mod sumdb tlog client verifies a live 10,000-record tenant over HTTP.

The verify function runs under a real HTTP server (werkzeug) with the real registry;
Go fetches ``/verify/log/tile/...`` with a read token, authenticates the tiles with its
TileHashReader, proves inclusion of entries from the served entry bundles, re-hashes
every bundle, and proves that the tree extends an earlier one.

The service still signs checkpoints in its own JSON format (the switch to signed-note
checkpoints belongs to the checkpoint work), so this test verifies the service's signed
checkpoint with our code and hands Go a C2SP checkpoint note over that signed root,
signed by a test key. Everything Go checks below the root comes from the service.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.serving import make_server

from functions import runtime
from shared.core.checkpoints import Checkpoint
from shared.core.commands import parse_batch
from shared.core.hashing import sha256
from shared.core.note import Ed25519NoteSigner, sign_note
from shared.core.principal import Principal
from shared.core.tlog import TreeHead, tenant_origin
from shared.core.verification import verify_checkpoint
from shared.service import Registry
from tests.conftest import ALL_SCOPES
from tests.functions.http_support import Api
from tests.integration.helpers import skill_data
from tests.interop.go_support import TlogCheck, build_tlogcheck

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]

SIZE = 10_000
OLD = 4_000


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> TlogCheck:
    return build_tlogcheck(tmp_path_factory)


@pytest.fixture
def verify_url(apps: dict[str, object]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, apps["verify"], threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _grow(api: Api, real_registry: runtime.Runtime, upto: int, have: int) -> None:
    # The batch path directly: the HTTP tests cap request bodies far below 1,000 items.
    writer = Principal("loader@example.com", api.tenant, ALL_SCOPES)
    while have < upto:
        n = min(1000, upto - have)
        items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(n)]
        real_registry.registry.create(writer, parse_batch({"entities": items}))
        have += n


def _signed_root(api: Api, real_registry: runtime.Runtime) -> Checkpoint:
    body = api.call("verify", "GET", "/checkpoint").get_json()
    checkpoint = Checkpoint.from_dict(body)
    registry = real_registry.registry
    assert isinstance(registry, Registry)  # the runtime holds it as the RegistryAPI
    verify_checkpoint(checkpoint, registry.evidence._trusted_keys)
    return checkpoint


def _note(api: Api, checkpoint: Checkpoint, path: Path, signer: Ed25519NoteSigner) -> Path:
    head = TreeHead(signer.name, checkpoint.tree_size, checkpoint.root_hash)
    path.write_bytes(sign_note(head.text(), [signer]))
    return path


def test_go_verifies_a_live_ten_thousand_record_tenant(
    tlogcheck: TlogCheck,
    api: Api,
    real_registry: runtime.Runtime,
    verify_url: str,
    tmp_path: Path,
) -> None:
    origin = tenant_origin("registry.example.com/plant", api.tenant)
    signer = Ed25519NoteSigner.from_private_key(
        origin, ed25519.Ed25519PrivateKey.from_private_bytes(sha256(b"interop log"))
    )
    _grow(api, real_registry, OLD, 0)
    old = _note(api, _signed_root(api, real_registry), tmp_path / "old", signer)
    _grow(api, real_registry, SIZE, OLD)
    checkpoint = _signed_root(api, real_registry)
    assert checkpoint.tree_size == SIZE
    current = _note(api, checkpoint, tmp_path / "current", signer)

    def run(*extra: str, token: str | None = None) -> dict[str, object]:
        result = tlogcheck.run(
            "verify",
            "-vkey", signer.verifier.vkey,
            "-origin", origin,
            "-base", f"{verify_url}/log",
            "-token", token or api.token("registry:read"),
            "-checkpoint", str(current),
            *extra,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        return result.report

    report = run("-index", "0,255,256,4000,9999", "-entries", "-old", str(old))
    assert report["ok"], report
    assert report["proved"] == 5
    assert report["entries_rehashed"] == SIZE
    assert report["consistent_with_old"] and report["old_size"] == OLD

    # Another tenant's token sees another (empty) log: Go gets 404s, not these tiles.
    other = api.token("registry:read", tenant="someone-else")
    refused = run("-index", "5", token=other)
    assert not refused["ok"] and "HTTP 404" in str(refused["error"])
