"""Go's x/mod sumdb tlog client verifies a live 10,000-record tenant over HTTP.

The verify function runs under a real HTTP server (werkzeug) with the real registry;
Go fetches ``/verify/log/checkpoint`` and opens it with the verifier key the service
publishes in ``GET /verify/keys``, fetches ``/verify/log/tile/...`` with a read token,
authenticates the tiles with its TileHashReader against that root, proves inclusion of
entries from the served entry bundles, re-hashes every bundle, and proves that the tree
extends the checkpoint it saw earlier. Nothing Go checks comes from this test's own keys.

Then a DBA deletes the log's tail and the newest checkpoints: the service serves its
older, genuinely signed checkpoint, and Go, holding the newer one, reports the rollback.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from functions import runtime
from shared.core.commands import parse_batch
from shared.core.hashing import sha256
from shared.core.note import Ed25519NoteSigner
from shared.core.principal import Principal
from tests.conftest import ALL_SCOPES, TEST_LOG_ORIGIN
from tests.functions.http_support import Api
from tests.integration.helpers import Dba, skill_data
from tests.interop.go_support import TlogCheck, build_tlogcheck

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]

SIZE = 10_000
OLD = 4_000


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> TlogCheck:
    return build_tlogcheck(tmp_path_factory)


def _grow(api: Api, real_registry: runtime.Runtime, upto: int, have: int) -> None:
    # The batch path directly: the HTTP tests cap request bodies far below 1,000 items.
    # Each batch is past CHECKPOINT_EVERY, so each one ends with a signed checkpoint.
    writer = Principal("loader@example.com", api.tenant, ALL_SCOPES)
    while have < upto:
        n = min(1000, upto - have)
        items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(n)]
        real_registry.registry.create(writer, parse_batch({"entities": items}))
        have += n


def _get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url)  # noqa: S310 (an http:// loopback URL)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        body: bytes = response.read()
        return body


def test_go_verifies_a_live_ten_thousand_record_tenant(
    tlogcheck: TlogCheck,
    api: Api,
    real_registry: runtime.Runtime,
    verify_url: str,
    admin_engine: Engine,
    tmp_path: Path,
) -> None:
    origin = f"{TEST_LOG_ORIGIN}/{api.tenant}"
    token = api.token("registry:read")
    keys = json.loads(_get(f"{verify_url}/keys?tenant={api.tenant}"))
    vkey = keys["log"]["vkey"]
    assert keys["log"]["origin"] == origin

    _grow(api, real_registry, OLD, 0)
    old = tmp_path / "old"
    old.write_bytes(_get(f"{verify_url}/log/checkpoint", token))
    _grow(api, real_registry, SIZE, OLD)
    current = tmp_path / "current"
    current.write_bytes(_get(f"{verify_url}/log/checkpoint", token))

    def run(*extra: str, key: str = vkey, token: str = token) -> dict[str, object]:
        result = tlogcheck.run(
            "verify",
            "-vkey", key,
            "-origin", origin,
            "-base", f"{verify_url}/log",
            "-token", token,
            *extra,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        return result.report

    # Everything from the service: its checkpoint, its vkey, its tiles and entries.
    report = run("-index", "0,255,256,4000,9999", "-entries", "-old", str(old))
    assert report["ok"], report
    assert report["size"] == SIZE
    assert report["proved"] == 5
    assert report["entries_rehashed"] == SIZE
    assert report["consistent_with_old"] and report["old_size"] == OLD

    # A wrong key: another tenant's log key (our key, another name), and another key
    # under this log's name.
    other = json.loads(_get(f"{verify_url}/keys?tenant=someone-else"))["log"]["vkey"]
    stranger = Ed25519NoteSigner.from_private_key(
        origin, ed25519.Ed25519PrivateKey.from_private_bytes(sha256(b"not the log key"))
    ).verifier.vkey
    for wrong in (other, stranger):
        refused = run(key=wrong)
        assert not refused["ok"], refused
        assert "checkpoint note: note has no verifiable signatures" in str(refused["error"])

    # A changed root: the served note with another root no longer verifies.
    text = current.read_text()
    lines = text.split("\n")
    lines[2] = ("A" if lines[2][0] != "A" else "B") + lines[2][1:]
    changed = tmp_path / "changed"
    changed.write_text("\n".join(lines))
    refused = run("-checkpoint", str(changed))
    assert not refused["ok"] and "invalid signature" in str(refused["error"]), refused

    # Another tenant's token sees another (empty) log: Go gets 404s, not these tiles.
    refused = run("-index", "5", token=api.token("registry:read", tenant="someone-else"))
    assert not refused["ok"] and "HTTP 404" in str(refused["error"])

    # A DBA deletes the tail and every checkpoint past 4,000: the service now serves the
    # genuine checkpoint of 4,000, and a client that saw 10,000 reports the shrunk tree.
    dba = Dba(admin_engine, api.tenant)
    dba.run("DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size > :n", n=OLD)
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > :n", n=OLD)
    assert _get(f"{verify_url}/log/checkpoint", token) == old.read_bytes()
    refused = run("-old", str(current))
    assert not refused["ok"], refused
    assert f"tree shrank from {SIZE} to {OLD}" in str(refused["error"]), refused
