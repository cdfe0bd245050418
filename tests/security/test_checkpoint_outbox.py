"""Checkpoints leave the database: an outbox retried until published, time as well as
count, a sweep for logs nobody writes to, and the lag on /healthz (ADR 0008)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.checkpoints import Checkpoint
from shared.core.errors import StorageError
from shared.core.principal import Principal
from shared.core.signing import LocalSigner
from shared.publisher import CheckpointPublisher, DirectoryCheckpointPublisher
from shared.service import Registry
from tests.integration.helpers import create, skill_data

pytestmark = pytest.mark.integration


class FlakyPublisher:
    """A directory publisher whose uploads fail while ``down`` (a bucket outage)."""

    kind = "directory"

    def __init__(self, path: Path) -> None:
        self.inner = DirectoryCheckpointPublisher(path)
        self.down = False
        self.attempts = 0

    def publish(self, checkpoint: Checkpoint) -> None:
        self.attempts += 1
        if self.down:
            raise StorageError("the bucket is unavailable")
        self.inner.publish(checkpoint)

    def latest(self, tenant_id: str) -> Checkpoint | None:
        return self.inner.latest(tenant_id)

    def at(self, tenant_id: str, tree_size: int) -> Checkpoint | None:
        return self.inner.at(tenant_id, tree_size)


class Clock:
    """A settable clock, an hour in the past so no other test's tenant looks old."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


def _registry(
    engine: Engine,
    signer: LocalSigner,
    publisher: CheckpointPublisher | None = None,
    *,
    clock: Clock | None = None,
    every: int = 100,
    max_age: int = 60,
) -> Registry:
    extra = {"clock": clock} if clock is not None else {}
    return Registry(
        engine,
        signer,
        {signer.key_id: signer.public_key},
        publisher,
        checkpoint_every=every,
        checkpoint_max_age=max_age,
        **extra,  # type: ignore[arg-type]
    )


def _unpublished(registry: Registry, tenant: str) -> list[int]:
    with registry.repository.tenant_transaction(tenant) as tx:
        return [c.tree_size for c in tx.unpublished_checkpoints(100)]


def _sizes(registry: Registry, tenant: str) -> list[int]:
    with registry.repository.tenant_transaction(tenant) as tx:
        return [c.tree_size for c in tx.checkpoints()]


def test_a_failed_publication_stays_in_the_outbox_until_published(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, tmp_path: Path
) -> None:
    flaky = FlakyPublisher(tmp_path)
    registry = _registry(runtime_engine, signer, flaky, every=3)
    flaky.down = True
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())  # the third signs; publishing fails
    assert _sizes(registry, admin.tenant_id) == [3]
    assert _unpublished(registry, admin.tenant_id) == [3]
    assert flaky.inner.latest(admin.tenant_id) is None

    create(registry, admin, "Skill", skill_data())  # still down: retried, still waiting
    assert _unpublished(registry, admin.tenant_id) == [3]
    flaky.down = False
    create(registry, admin, "Skill", skill_data())  # the next write publishes it
    assert _unpublished(registry, admin.tenant_id) == []
    published = flaky.inner.latest(admin.tenant_id)
    assert published is not None and published.tree_size == 3


def test_the_admin_command_publishes_the_outbox_oldest_first(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, tmp_path: Path
) -> None:
    flaky = FlakyPublisher(tmp_path)
    registry = _registry(runtime_engine, signer, flaky, every=0)
    flaky.down = True
    create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    create(registry, admin, "Skill", skill_data())
    # The publisher is readable but refuses uploads: both checkpoints wait.
    registry.sign_checkpoint(admin)
    assert _unpublished(registry, admin.tenant_id) == [1, 2]
    flaky.down = False
    assert registry.sign_checkpoint(admin).tree_size == 2  # nothing new to sign
    assert _unpublished(registry, admin.tenant_id) == []
    assert flaky.inner.at(admin.tenant_id, 1) is not None
    latest = flaky.inner.latest(admin.tenant_id)
    assert latest is not None and latest.tree_size == 2


def test_a_write_signs_once_unsigned_records_are_older_than_the_maximum_age(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    clock = Clock()
    registry = _registry(runtime_engine, signer, clock=clock, every=100, max_age=60)
    create(registry, admin, "Skill", skill_data())
    clock.now += timedelta(seconds=59)
    create(registry, admin, "Skill", skill_data())
    assert _sizes(registry, admin.tenant_id) == []  # 2 of 100, and younger than 60 s
    clock.now += timedelta(seconds=2)
    create(registry, admin, "Skill", skill_data())
    assert _sizes(registry, admin.tenant_id) == [3]


def test_the_sweep_signs_logs_nobody_writes_to(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    clock = Clock()
    registry = _registry(runtime_engine, signer, clock=clock, every=0, max_age=60)
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    registry.checkpoint_sweep()
    assert _sizes(registry, admin.tenant_id) == []  # young: not due yet
    clock.now += timedelta(seconds=61)
    done = registry.checkpoint_sweep()
    assert done["signed"] >= 1
    assert _sizes(registry, admin.tenant_id) == [3]


def test_healthz_shows_how_far_publication_lags(
    runtime_engine: Engine, signer: LocalSigner, admin: Principal, tmp_path: Path
) -> None:
    flaky = FlakyPublisher(tmp_path)
    registry = _registry(runtime_engine, signer, flaky, every=0)
    flaky.down = True
    create(registry, admin, "Skill", skill_data())
    registry.sign_checkpoint(admin)
    lag = registry.health()["checkpoints"]
    assert lag["publisher"] == "directory"
    assert lag["unpublished_checkpoints"] >= 1
    assert lag["oldest_unpublished_checkpoint_age_s"] >= 0
    flaky.down = False
    registry.sign_checkpoint(admin)
    assert _unpublished(registry, admin.tenant_id) == []
    without = _registry(runtime_engine, signer)
    assert without.health()["checkpoints"]["unpublished_checkpoints"] is None


def test_the_backlog_reveals_no_other_tenant_rows_to_the_runtime_role(
    runtime_engine: Engine, registry: Registry, admin: Principal
) -> None:
    create(registry, admin, "Skill", skill_data())
    backlog = {t.tenant_id: t for t in registry.repository.checkpoint_backlog()}
    assert backlog[admin.tenant_id].head_seq - backlog[admin.tenant_id].checkpoint_size == 1
    # The owner's policies open only for registry_owner: the runtime role setting the
    # function's marker itself still sees nothing outside its tenant.
    with runtime_engine.begin() as conn:
        marker = "SELECT set_config('registry.reading_checkpoint_backlog', 'on', true)"
        conn.execute(sa.text(marker))
        for table in ("entity_versions", "checkpoints", "checkpoint_publications"):
            assert conn.scalar(sa.text(f"SELECT count(*) FROM registry.{table}")) == 0
