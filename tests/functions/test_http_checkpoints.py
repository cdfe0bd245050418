"""Never a signing oracle, over HTTP: issue 7's reproductions 3 and 4, and reads that
never sign (issue 12).

3. A DBA rewrites a record after the last checkpoint and recomputes its leaf and chain
   hashes (no private key needed): the service must refuse to sign over it.
4. A DBA deletes the tail and the newest checkpoints and lets the log regrow: the
   service must not sign a second root for a size it already signed and published, and
   the consistency check against the checkpoint an auditor saved must fail.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from functions import runtime
from shared.core.checkpoints import Checkpoint
from shared.core.errors import VerificationError
from shared.core.hashing import chain_hash, leaf_hash
from shared.core.principal import SCOPE_READ, SCOPE_WRITE
from shared.core.reports import check_consistency
from shared.core.signing import LocalSigner
from shared.publisher import DirectoryCheckpointPublisher
from shared.service import Registry
from tests.functions.http_support import Api, assert_problem
from tests.integration.helpers import Dba

pytestmark = pytest.mark.integration

WRITER = f"{SCOPE_READ} {SCOPE_WRITE}"


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return tmp_path / "bucket"


@pytest.fixture
def service(
    real_runtime: runtime.Runtime, runtime_engine: Engine, signer: LocalSigner, published: Path
) -> Iterator[Registry]:
    """The real service, publishing to a directory (the dev stand-in for the bucket)."""
    registry = Registry(
        runtime_engine,
        signer,
        {signer.key_id: signer.public_key},
        DirectoryCheckpointPublisher(published),
        checkpoint_every=0,  # only the admin command signs, so each test controls when
    )
    runtime.install(
        runtime.Runtime(
            settings=real_runtime.settings, registry=registry, tokens=real_runtime.tokens
        )
    )
    yield registry
    runtime.install(None)


@pytest.fixture
def dba(admin_engine: Engine, api: Api) -> Dba:
    return Dba(admin_engine, api.tenant)


def _skill() -> dict[str, Any]:
    return {
        "name": f"Skill {uuid.uuid4().hex[:8]}",
        "description": "Writes and reviews Python services",
        "category": "technical",
    }


def _grow(api: Api, n: int) -> list[dict[str, Any]]:
    records = []
    for _ in range(n):
        response = api.create("Skill", _skill())
        assert response.status_code == 201, response.get_json()
        records.append(response.get_json())
    return records


def _sign(api: Api) -> Any:
    return api.call("verify", "POST", "/checkpoint")


def _checkpoint_sizes(engine: Engine, tenant: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT tree_size FROM registry.checkpoints WHERE tenant_id = :t ORDER BY 1"),
            {"t": tenant},
        )
        return [row[0] for row in rows]


def test_reads_never_sign(api: Api, service: Registry, admin_engine: Engine) -> None:
    records = _grow(api, 3)
    problem = assert_problem(api.call("verify", "GET", "/checkpoint"), 404, "not-found")
    assert "POST /verify/checkpoint" in problem["detail"]
    report = api.call("verify", "GET", f"/entities/{records[0]['entity_id']}").get_json()
    assert report["valid"] is False and report["checkpoint"] is None
    assert_problem(api.call("verify", "GET", "/consistency?first=1&second=3"), 404, "not-found")
    assert _checkpoint_sizes(admin_engine, api.tenant) == []  # nothing above signed

    assert_problem(api.call("verify", "POST", "/checkpoint", scopes=WRITER), 403, "forbidden")
    signed = _sign(api)
    assert signed.status_code == 200, signed.get_json()
    assert signed.get_json()["tree_size"] == 3
    assert api.call("verify", "GET", "/checkpoint").get_json() == signed.get_json()
    assert _checkpoint_sizes(admin_engine, api.tenant) == [3]


def _forge_from(dba: Dba, records: list[dict[str, Any]], seq: int, chain_before: bytes) -> None:
    """Rewrite record ``seq``'s bytes with a consistent leaf hash, and re-link the chain
    from it to the head: everything but the signatures, which need the service's key."""
    previous = chain_before
    for record in records:
        if record["seq"] < seq:
            continue
        canonical = bytes.fromhex(record["canonical_hex"])
        if record["seq"] == seq:
            canonical = canonical.replace(b"Writes", b"Forges")
        leaf = leaf_hash(canonical)
        previous = chain_hash(previous, leaf)
        dba.run(
            "UPDATE registry.entity_versions SET canonical = :c, leaf_hash = :l, "
            "chain_hash = :h WHERE tenant_id = :t AND seq = :s",
            c=canonical,
            l=leaf,
            h=previous,
            s=record["seq"],
        )


@pytest.mark.parametrize("position", ["right after the checkpoint", "in the middle", "the head"])
def test_3_no_checkpoint_is_signed_over_a_forged_tail(
    api: Api, service: Registry, dba: Dba, admin_engine: Engine, position: str
) -> None:
    _grow(api, 4)
    assert _sign(api).status_code == 200
    tail = _grow(api, 3)  # seqs 5, 6, 7
    for record in tail:
        record["canonical_hex"] = base64.b64decode(record["canonical"]).hex()
    seq = {"right after the checkpoint": 5, "in the middle": 6, "the head": 7}[position]
    before = next(r for r in tail if r["seq"] == seq - 1)["chain_hash"] if seq > 5 else None
    chain_before = bytes.fromhex(
        before or api.call("verify", "GET", "/checkpoint").get_json()["chain_head"]
    )
    _forge_from(dba, tail, seq, chain_before)

    body = assert_problem(_sign(api), 500, "integrity-violation")
    assert (body["seq"], body["check"]) == (seq, "signature")
    assert _checkpoint_sizes(admin_engine, api.tenant) == [4]  # nothing new was signed


def test_4_a_rolled_back_log_is_not_signed_again(
    api: Api, service: Registry, dba: Dba, admin_engine: Engine, published: Path
) -> None:
    _grow(api, 5)
    saved_old = _sign(api).get_json()  # an auditor saves the checkpoint of size 5
    _grow(api, 5)
    saved = _sign(api).get_json()  # ... and the one of size 10, published
    assert saved["tree_size"] == 10
    assert (published / "checkpoints" / api.tenant / "00000000000000000010.json").exists()

    # The DBA deletes records above seq 5 and checkpoints above size 5; the log regrows.
    dba.run("DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size > 5")
    dba.run("DELETE FROM registry.tiles WHERE tenant_id = :t")
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 5")
    _grow(api, 7)

    body = assert_problem(_sign(api), 500, "log-rollback-detected")
    assert "tree size 10" in body["detail"]
    assert _checkpoint_sizes(admin_engine, api.tenant) == [5]  # no second root for 10

    # The auditor holding the checkpoint of size 10 sees the service fall behind it.
    newest = api.call("verify", "GET", "/checkpoint").get_json()
    keys = {service.signer.key_id: service.signer.public_key}
    with pytest.raises(VerificationError) as failure:
        check_consistency(Checkpoint.from_dict(saved), Checkpoint.from_dict(newest), [], keys)
    assert failure.value.check == "rollback"
    assert_problem(api.call("verify", "GET", "/consistency?first=5&second=10"), 404, "not-found")
    # The older checkpoint still checks out against itself: the refusal is specific.
    assert api.call("verify", "GET", "/consistency?first=5&second=5").get_json()["valid"]
    assert newest == saved_old
