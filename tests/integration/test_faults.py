"""Faults the database and the network produce: every wait bounded, never a 500.

Each test puts a real fault between the registry and a real PostgreSQL: a lock holder
that never commits, a transaction left idle, a proxy that resets connections, freezes,
or cuts the line right after COMMIT was sent (tools/faultproxy.py). The registry must
answer each with a RegistryError (503 + Retry-After over HTTP) within its configured
bound, write nothing partial, and recover by itself once the fault is gone.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.commands import IdempotencyKey, create_entity
from shared.core.errors import CommitOutcomeUnknownError, RegistryError, StorageError
from shared.core.principal import Principal
from shared.core.queries import get_entity
from shared.core.signing import LocalSigner
from shared.db import engine_for_url
from shared.limits import Limits, Timeouts
from shared.service import Registry
from shared.settings import Settings
from tests.conftest import Database
from tests.integration.helpers import skill_data
from tools.faultproxy import FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAST = Settings(
    db_lock_timeout_ms=300,
    db_statement_timeout_ms=1000,
    db_idle_in_tx_timeout_ms=500,
    db_connect_timeout_s=1,
    db_pool_size=2,
    db_pool_timeout=2,
)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('plant-registry/append/' || :t, 0))"


def _registry(engine: Engine, signer: LocalSigner) -> Registry:
    return Registry(
        engine,
        signer,
        {signer.key_id: signer.public_key},
        limits=Limits.unbounded(Timeouts.from_settings(FAST)),
    )


def _log_size(registry: Registry, tenant: str) -> int:
    with registry.repository.tenant_transaction(tenant) as tx:
        return tx.head().seq


@pytest.fixture
def fast_engine(database: Database) -> Iterator[Engine]:
    engine = engine_for_url(database.runtime_url, FAST)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(database: Database) -> Iterator[FaultProxy]:
    unix_sock = sa.make_url(database.runtime_url).query.get("unix_sock")
    if not isinstance(unix_sock, str):
        # The proxy fronts the embedded server's Unix socket; a TCP TEST_DATABASE_URL
        # (the second-server CI leg) runs every other test but these.
        pytest.skip("the fault proxy needs the embedded server's Unix socket")
    with FaultProxy(upstream_unix=unix_sock) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def proxied_engine(database: Database, proxy: FaultProxy) -> Iterator[Engine]:
    url = sa.make_url(database.runtime_url).set(host="127.0.0.1", port=proxy.port, query={})
    engine = engine_for_url(url.render_as_string(hide_password=False), FAST)
    yield engine
    engine.dispose()


# --- every wait is bounded -----------------------------------------------------------


def test_a_stalled_lock_holder_costs_a_writer_only_the_lock_timeout(
    fast_engine: Engine, signer: LocalSigner, admin: Principal, admin_engine: Engine
) -> None:
    registry = _registry(fast_engine, signer)
    with admin_engine.connect() as holder:
        holder.execute(sa.text(_LOCK), {"t": admin.tenant_id})
        with admin_engine.connect() as observer:  # the lock probe the commit tests rely on
            assert observer.scalar(_HELD, {"t": admin.tenant_id}) == 1
        started = time.monotonic()
        with pytest.raises(StorageError) as raised:
            registry.create(admin, create_entity("Skill", skill_data()))
        waited = time.monotonic() - started
    assert raised.value.evidence["sqlstate"] == "55P03"
    assert 0.25 <= waited < 2.5, waited
    assert _log_size(registry, admin.tenant_id) == 0  # nothing partial
    assert registry.create(admin, create_entity("Skill", skill_data())).records[0].seq == 1


def test_timeouts_are_set_inside_the_transaction_only(
    fast_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(fast_engine, signer)
    show = (
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')"
    )
    with registry.repository.tenant_transaction(admin.tenant_id) as tx:
        assert tuple(tx.conn.execute(sa.text(show)).one()) == ("300ms", "1s", "500ms")
    with registry.repository.append_transaction(admin.tenant_id) as (tx, _head):
        assert tuple(tx.conn.execute(sa.text(show)).one()) == ("300ms", "1s", "500ms")
    with fast_engine.connect() as conn:  # the same pooled connections, outside
        assert tuple(conn.execute(sa.text(show)).one()) == ("0", "0", "0")


def test_a_slow_statement_is_cancelled_by_statement_timeout(
    fast_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(fast_engine, signer)
    started = time.monotonic()
    with (
        pytest.raises(StorageError) as raised,
        registry.repository.tenant_transaction(admin.tenant_id) as tx,
    ):
        tx.conn.execute(sa.text("SELECT pg_sleep(30)"))
    assert raised.value.evidence["sqlstate"] == "57014"
    assert time.monotonic() - started < 3


def test_the_server_ends_a_transaction_left_idle(
    fast_engine: Engine, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(fast_engine, signer)
    with (
        pytest.raises(StorageError),
        registry.repository.append_transaction(admin.tenant_id) as (tx, _head),
    ):
        time.sleep(1.0)  # a frozen client holding the tenant's lock
        tx.head()
    # The lock went with the session: the next writer gets it at once.
    assert registry.create(admin, create_entity("Skill", skill_data())).records[0].seq == 1


def test_connecting_to_a_server_that_never_answers_times_out() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never accepts or speaks
    try:
        port = silent.getsockname()[1]
        engine = engine_for_url(f"postgresql+pg8000://nobody:pw@127.0.0.1:{port}/db", FAST)
        registry = _registry(engine, LocalSigner.from_pem(_dev_pem()))
        started = time.monotonic()
        with pytest.raises(StorageError):
            registry.repository.schema_revision()
        assert time.monotonic() - started < 4
        engine.dispose()
    finally:
        silent.close()


def _dev_pem() -> bytes:
    from shared.keys import generate_ed25519_private_key_pem

    return generate_ed25519_private_key_pem()


def test_a_frozen_server_fails_the_request_within_the_read_timeout(
    proxied_engine: Engine, proxy: FaultProxy, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(proxied_engine, signer)
    registry.create(admin, create_entity("Skill", skill_data()))
    proxy.freeze = True  # a SIGSTOPped instance: TCP up, nothing answers
    started = time.monotonic()
    with pytest.raises(StorageError):
        registry.get(admin, get_entity("01890000-0000-7000-8000-000000000000"))
    # statement timeout (1 s) + connect timeout (1 s) of margin, then give up
    assert time.monotonic() - started < 5
    proxy.freeze = False
    proxy.reset_all()
    assert registry.create(admin, create_entity("Skill", skill_data())).records[0].seq == 2


# --- never a 500 for a transient fault -----------------------------------------------


def test_connections_reset_under_the_pool_are_replaced_not_reported(
    proxied_engine: Engine, proxy: FaultProxy, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(proxied_engine, signer)
    first = registry.create(admin, create_entity("Skill", skill_data())).records[0]
    for _ in range(3):
        assert proxy.reset_all() >= 1  # a backend-terminate storm between requests
        assert registry.get(admin, get_entity(first.entity_id)).seq == first.seq
    assert registry.create(admin, create_entity("Skill", skill_data())).records[0].seq == 2


def test_a_reset_mid_transaction_is_a_storage_error_and_writes_nothing(
    proxied_engine: Engine, proxy: FaultProxy, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(proxied_engine, signer)
    registry.create(admin, create_entity("Skill", skill_data()))
    with (
        pytest.raises(StorageError),
        registry.repository.append_transaction(admin.tenant_id) as (tx, _head),
    ):
        proxy.reset_all()
        tx.head()
    assert _log_size(registry, admin.tenant_id) == 1


def test_refused_connections_are_a_storage_error(
    proxied_engine: Engine, proxy: FaultProxy, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(proxied_engine, signer)
    proxy.refuse = True
    proxy.reset_all()
    with pytest.raises(StorageError):
        registry.create(admin, create_entity("Skill", skill_data()))
    proxy.refuse = False
    assert registry.create(admin, create_entity("Skill", skill_data())).records[0].seq == 1


def test_a_commit_acknowledgement_lost_is_retried_safely_with_its_idempotency_key(
    proxied_engine: Engine, proxy: FaultProxy, signer: LocalSigner, admin: Principal
) -> None:
    registry = _registry(proxied_engine, signer)
    registry.create(admin, create_entity("Skill", skill_data()))  # the signing key is registered
    data = skill_data()
    proxy.drop_reply(b"COMMIT\x00")  # the server commits; its answer never arrives
    with pytest.raises(CommitOutcomeUnknownError):
        registry.create(
            admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("order-17")
        )
    assert proxy.dropped.is_set()
    # The write is durable: the retry replays it instead of making a second one.
    retry = registry.create(
        admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("order-17")
    )
    assert retry.replayed
    assert _log_size(registry, admin.tenant_id) == 2
    assert (
        registry.get(admin, get_entity(retry.records[0].entity_id)).canonical
        == retry.records[0].canonical
    )


def test_a_commit_cut_before_it_ran_is_retried_safely_with_its_idempotency_key(
    proxied_engine: Engine,
    proxy: FaultProxy,
    signer: LocalSigner,
    admin: Principal,
    admin_engine: Engine,
) -> None:
    registry = _registry(proxied_engine, signer)
    registry.create(admin, create_entity("Skill", skill_data()))
    data = skill_data()
    # The flush that carries COMMIT (with the last writes, shared/repository_session.py)
    # never reaches the server and the line dies: the client cannot tell this from a
    # lost acknowledgement, so it is the same 503.
    proxy.drop_request(b"commit")
    with pytest.raises(CommitOutcomeUnknownError):
        registry.create(
            admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("order-18")
        )
    assert proxy.dropped.is_set()
    # The server rolls back once it sees the line gone; wait for that rather than racing
    # the retry against the dying session's append lock (which would be a 503 as well).
    _wait_until_unlocked(admin_engine, admin.tenant_id)
    assert _log_size(registry, admin.tenant_id) == 1  # nothing of the first attempt
    retry = registry.create(
        admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("order-18")
    )
    assert not retry.replayed  # it never committed, so the retry is the one write
    assert _log_size(registry, admin.tenant_id) == 2
    assert (
        registry.get(admin, get_entity(retry.records[0].entity_id)).canonical
        == retry.records[0].canonical
    )


_HELD = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
    "AND (classid::bigint << 32 | objid::bigint) "
    "= hashtextextended('plant-registry/append/' || :t, 0)"
)


def _wait_until_unlocked(admin_engine: Engine, tenant: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    with admin_engine.connect() as conn:
        while conn.scalar(_HELD, {"t": tenant}):
            assert time.monotonic() < deadline, "the cut session still holds the append lock"
            time.sleep(0.02)
            conn.rollback()


def test_every_failure_leaves_the_repository_as_a_registry_error() -> None:
    import struct

    import pg8000.dbapi

    from shared.repository_errors import translate_errors

    def refused(code: str) -> Exception:
        error: Exception = pg8000.dbapi.ProgrammingError({"S": "FATAL", "C": code, "M": "refused"})
        return error

    for raw in (
        ConnectionResetError(104, "reset"),
        struct.error("short read"),
        TimeoutError(),
        refused("57P03"),  # the database system is starting up (after a crash)
        refused("57P01"),  # terminating connection due to administrator command
        refused("53300"),  # too many connections
    ):
        with pytest.raises(RegistryError) as raised, translate_errors():
            raise raw
        assert isinstance(raised.value, StorageError), raw
    # A raw error that is not an outage stays what it is: a bug, not a retry.
    with pytest.raises(pg8000.dbapi.ProgrammingError), translate_errors():
        raise refused("42P01")


def test_a_login_the_server_refuses_is_a_storage_error(
    database: Database,
    fast_engine: Engine,
    signer: LocalSigner,
    admin: Principal,
    admin_engine: Engine,
) -> None:
    # As after a postmaster crash ("the database system is starting up") or with every
    # slot taken: the pool's new connection is refused at login, which pg8000 raises raw.
    login = sa.make_url(database.runtime_url).username
    assert login is not None
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'ALTER ROLE "{login}" CONNECTION LIMIT 0')
        conn.commit()
    try:
        with pytest.raises(StorageError) as raised:
            _registry(fast_engine, signer).create(admin, create_entity("Skill", skill_data()))
        assert raised.value.evidence.get("sqlstate") == "53300", raised.value.detail
    finally:
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{login}" CONNECTION LIMIT -1')
            conn.commit()
    assert (
        _registry(fast_engine, signer)
        .create(admin, create_entity("Skill", skill_data()))
        .records[0]
        .seq
        == 1
    )
