"""Checkpoint signing as a hostile DBA sees it: sign only verified state, never twice.

Every test edits rows as a superuser (triggers off) and then asks the one signing path
(``Registry.sign_checkpoint``, which writes use too) to sign: it must refuse with the
check and seq that failed, and store nothing.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from shared.core.checkpoints import Checkpoint
from shared.core.commands import parse_batch
from shared.core.errors import IntegrityViolationError, LogRollbackError, VerificationError
from shared.core.principal import Principal
from shared.core.reports import check_consistency
from shared.core.signing import LocalSigner
from shared.publisher import DirectoryCheckpointPublisher
from shared.service import Registry
from tests.integration.helpers import Dba, create, skill_data

pytestmark = pytest.mark.integration


def _registry(engine: Engine, signer: LocalSigner, bucket: Path | None, every: int = 0) -> Registry:
    publisher = DirectoryCheckpointPublisher(bucket) if bucket is not None else None
    return Registry(
        engine, signer, {signer.key_id: signer.public_key}, publisher, checkpoint_every=every
    )


@pytest.fixture
def service(runtime_engine: Engine, signer: LocalSigner, tmp_path: Path) -> Registry:
    return _registry(runtime_engine, signer, tmp_path / "bucket")


@pytest.fixture
def dba(admin_engine: Engine, admin: Principal) -> Dba:
    return Dba(admin_engine, admin.tenant_id)


def _grow(registry: Registry, admin: Principal, n: int) -> None:
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(n)]
    registry.create(admin, parse_batch({"entities": items}))


def _sizes(registry: Registry, tenant: str) -> list[int]:
    with registry.repository.tenant_transaction(tenant) as tx:
        return [c.tree_size for c in tx.checkpoints()]


def _refused(registry: Registry, admin: Principal) -> IntegrityViolationError:
    before = _sizes(registry, admin.tenant_id)
    with pytest.raises(IntegrityViolationError) as refusal:
        registry.sign_checkpoint(admin)
    assert _sizes(registry, admin.tenant_id) == before
    return refusal.value


def test_a_deleted_tail_below_the_newest_checkpoint_is_a_rollback(
    service: Registry, admin: Principal, dba: Dba, caplog: pytest.LogCaptureFixture
) -> None:
    _grow(service, admin, 6)
    service.sign_checkpoint(admin)
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 3")
    refusal = _refused(service, admin)
    assert isinstance(refusal, LogRollbackError)
    assert refusal.kind == "log-rollback-detected"
    assert any(r.levelname == "ERROR" and "rollback" in r.getMessage() for r in caplog.records)


def test_a_process_remembers_what_it_signed_without_a_publisher(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, dba: Dba
) -> None:
    alone = _registry(runtime_engine, signer, None)
    _grow(alone, admin, 5)
    alone.sign_checkpoint(admin)
    _grow(alone, admin, 5)
    saved = alone.sign_checkpoint(admin)  # an auditor saved this one
    dba.run("DELETE FROM registry.checkpoints WHERE tenant_id = :t AND tree_size > 5")
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq > 5")
    _grow(alone, admin, 5)
    assert isinstance(_refused(alone, admin), LogRollbackError)

    # A fresh process with nothing published cannot know; the auditor still can: the
    # new checkpoint of size 10 is not the one they saved.
    fresh = _registry(runtime_engine, signer, None)
    forked = fresh.sign_checkpoint(admin)
    assert forked.tree_size == 10 and forked.root_hash != saved.root_hash
    with pytest.raises(VerificationError) as failure:
        check_consistency(saved, forked, [], fresh.trusted_keys)
    assert failure.value.check == "fork"


def test_a_published_checkpoint_is_verified_before_it_is_believed(
    service: Registry, admin: Principal, tmp_path: Path
) -> None:
    _grow(service, admin, 2)
    service.sign_checkpoint(admin)
    pointer = tmp_path / "bucket" / "checkpoints" / admin.tenant_id / "latest.json"
    document = json.loads(pointer.read_text())
    document["root_hash"] = "00" * 32
    pointer.write_text(json.dumps(document))
    _grow(service, admin, 1)
    refusal = _refused(service, admin)
    assert refusal.check == "checkpoint"
    assert not isinstance(refusal, LogRollbackError)


def test_a_stored_checkpoint_with_a_broken_signature_is_not_built_on(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, dba: Dba
) -> None:
    alone = _registry(runtime_engine, signer, None)
    _grow(alone, admin, 3)
    alone.sign_checkpoint(admin)
    dba.run("UPDATE registry.checkpoints SET signature = :s WHERE tenant_id = :t", s=b"\x01" * 64)
    _grow(_registry(runtime_engine, signer, None), admin, 2)
    # A fresh process: this one's memory of the genuine checkpoint would also refuse.
    fresh = _registry(runtime_engine, signer, None)
    assert (_refused(fresh, admin).check, _refused(fresh, admin).seq) == ("checkpoint", 3)
    with pytest.raises(IntegrityViolationError):
        fresh.latest_checkpoint(admin)  # nor is it served


def test_a_missing_record_after_the_checkpoint_is_refused(
    service: Registry, admin: Principal, dba: Dba, caplog: pytest.LogCaptureFixture
) -> None:
    _grow(service, admin, 3)
    service.sign_checkpoint(admin)
    _grow(service, admin, 3)
    dba.run("DELETE FROM registry.entity_versions WHERE tenant_id = :t AND seq = 5")
    refusal = _refused(service, admin)
    assert refusal.check == "seq"
    assert "seq 5 is missing" in caplog.text


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        # A hash inside the tile that the consistency proof from size 2 uses.
        ("hashes = overlay(hashes placing :h from 65)", "consistency"),
        # The tile's root, which the new tree's root is built from.
        ("root = :h", "tile"),
    ],
)
def test_a_tampered_full_tile_is_refused(
    service: Registry, admin: Principal, dba: Dba, edit: str, check: str
) -> None:
    _grow(service, admin, 2)
    service.sign_checkpoint(admin)
    _grow(service, admin, 256)  # completes tile 0/000
    dba.run(
        f"UPDATE registry.tiles SET {edit} WHERE tenant_id = :t AND level = 0 AND tile_index = 0",
        h=b"\x05" * 32,
    )
    assert _refused(service, admin).check == check


def test_concurrent_writers_do_not_over_sign(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    every = 5
    writers = _registry(runtime_engine, signer, None, every=every)

    def write(_: int) -> None:
        for _ in range(6):
            create(writers, admin, "Skill", skill_data())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))
    sizes = _sizes(writers, admin.tenant_id)
    # Each signer re-reads the newest checkpoint under the signer lock and signs only
    # when `every` records follow it: never more checkpoints than the count asks for.
    assert sizes, "writes signed no checkpoint"
    gaps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    assert min(gaps) >= every, sizes
    assert len(sizes) <= 24 // every
    assert writers.audit(admin).valid


def test_a_checkpoint_is_published_and_read_back(
    service: Registry, admin: Principal, tmp_path: Path
) -> None:
    _grow(service, admin, 4)
    signed = service.sign_checkpoint(admin)
    publisher = DirectoryCheckpointPublisher(tmp_path / "bucket")
    assert publisher.latest(admin.tenant_id) == signed
    assert publisher.at(admin.tenant_id, 4) == signed
    assert publisher.at(admin.tenant_id, 3) is None
    assert isinstance(Checkpoint.from_dict(signed.to_dict()), Checkpoint)
