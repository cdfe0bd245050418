"""Shared fixtures: one real PostgreSQL per test session, migrated, with a runtime login.

By default an embedded PostgreSQL starts in a temporary directory; TEST_DATABASE_URL may
name another server instead (a superuser URL: tests create a scratch database, a
runtime login and, for the tamper tests, act as the DBA). The log is append-only, so
tests isolate themselves by tenant (the ``tenant`` fixture), never by cleaning up.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from shared.core.checkpoints import CheckpointSigner
from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, Principal
from shared.core.signing import LocalSigner, PublicKey
from shared.db import engine_for_url
from shared.embedded import prepare_database, start_embedded_server
from shared.service import Registry

ALL_SCOPES = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN})
# The log origin prefix of the test registry's tenants: <TEST_LOG_ORIGIN>/<tenant_id>.
TEST_LOG_ORIGIN = "registry.example.com/plant"


@dataclasses.dataclass(frozen=True)
class Database:
    admin_url: str  # superuser on the scratch database: the "DBA" of the tamper tests
    migration_url: str
    runtime_url: str  # the runtime login: no superuser, not the owner, under RLS
    runtime_login: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    stop: Callable[[], None] | None = None
    scratch_dir: str | None = None
    if not server_url:
        scratch_dir = tempfile.mkdtemp(prefix="registry-test-pg-")
        server_url, stop = start_embedded_server(Path(scratch_dir) / "pgdata")
    suffix = secrets.token_hex(4)
    name, login = f"registry_test_{suffix}", f"registry_app_{suffix}"
    try:
        migration_url, runtime_url = prepare_database(server_url, name, login)
        yield Database(migration_url, migration_url, runtime_url, login)
    finally:
        admin = engine_for_url(server_url, pooled=False)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_quote(login)}")
        admin.dispose()
        if stop is not None:
            stop()
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_engine(database: Database) -> Iterator[Engine]:
    engine = engine_for_url(database.runtime_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_engine(database: Database) -> Iterator[Engine]:
    engine = sa.create_engine(database.admin_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def signer() -> LocalSigner:
    return LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def checkpoint_key() -> CheckpointSigner:
    """The log's Ed25519 checkpoint key (signed notes), a key of its own."""
    private = ed25519.Ed25519PrivateKey.generate()
    return CheckpointSigner(TEST_LOG_ORIGIN, PublicKey.from_key(private.public_key()), private.sign)


@pytest.fixture(scope="session")
def registry(
    runtime_engine: Engine, signer: LocalSigner, checkpoint_key: CheckpointSigner
) -> Registry:
    return Registry(
        runtime_engine,
        signer,
        {signer.key_id: signer.public_key},
        checkpoint_key=checkpoint_key,
    )


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin(tenant: str) -> Principal:
    """A principal of the test's tenant holding every scope."""
    return Principal(subject="alice@example.com", tenant_id=tenant, scopes=ALL_SCOPES)


@pytest.fixture
def writer(tenant: str) -> Principal:
    """A principal of the test's tenant that may read and write but not administer."""
    return Principal(
        subject="bob@example.com", tenant_id=tenant, scopes=frozenset({SCOPE_READ, SCOPE_WRITE})
    )
