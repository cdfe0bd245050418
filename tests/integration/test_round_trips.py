"""Round trips per operation, counted at pg8000's socket (issue 10: create ≤ 3, get ≤ 2).

Waiting on the socket is most of a create's and a get's time, so these counts are the
performance contract that a refactoring most easily breaks without anyone noticing. They
are counted on a warm connection (its statements already prepared), which is the state
a serving process is in after its first request on each pooled connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from shared.core.commands import create_entity, parse_batch
from shared.core.principal import Principal
from shared.core.queries import get_entity
from shared.core.signing import LocalSigner
from shared.db import engine_for_url
from shared.service import Registry
from tests.conftest import ALL_SCOPES, Database
from tests.integration.helpers import skill_data
from tests.roundtrips import RoundTripCounter

pytestmark = pytest.mark.integration

CREATE_ROUND_TRIPS = 3
GET_ROUND_TRIPS = 2


@pytest.fixture(scope="module")
def counted(database: Database, signer: LocalSigner) -> Iterator[tuple[Registry, RoundTripCounter]]:
    engine = engine_for_url(database.runtime_url)
    counter = RoundTripCounter.install(engine)
    # Automatic checkpoints are their own operation (one in CHECKPOINT_EVERY writes).
    registry = Registry(engine, signer, {signer.key_id: signer.public_key}, checkpoint_every=0)
    yield registry, counter
    engine.dispose()


@pytest.fixture
def principal() -> Principal:
    return Principal("rt@example.com", f"rt-{uuid.uuid4().hex[:12]}", ALL_SCOPES)


def test_the_counter_counts_what_pg8000_sends(
    counted: tuple[Registry, RoundTripCounter],
) -> None:
    """Self-check: a simple query is one round trip; a parameterised one is three in pg8000."""
    registry, counter = counted
    with registry.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with counter.measure() as simple:
            raw.execute_simple("SELECT 1")
        with counter.measure() as unnamed:
            raw.execute_unnamed("SELECT $1::int", vals=(1,))
        conn.rollback()
    assert (simple.count, unnamed.count) == (1, 3)


def test_a_create_takes_at_most_three_round_trips(
    counted: tuple[Registry, RoundTripCounter], principal: Principal
) -> None:
    registry, counter = counted
    registry.create(principal, create_entity("Skill", skill_data()))  # warm: statements prepared
    with counter.measure() as trips:
        record = registry.create(principal, create_entity("Skill", skill_data())).records[0]
    assert record.seq == 2
    assert trips.count <= CREATE_ROUND_TRIPS, f"a create took {trips.count} round trips"


def test_a_get_takes_at_most_two_round_trips(
    counted: tuple[Registry, RoundTripCounter], principal: Principal
) -> None:
    registry, counter = counted
    record = registry.create(principal, create_entity("Skill", skill_data())).records[0]
    registry.get(principal, get_entity(record.entity_id))  # warm
    with counter.measure() as current:
        assert registry.get(principal, get_entity(record.entity_id)) == record
    with counter.measure() as one_version:
        assert registry.get(principal, get_entity(record.entity_id, version=1)) == record
    assert current.count <= GET_ROUND_TRIPS, f"a get took {current.count} round trips"
    assert one_version.count <= GET_ROUND_TRIPS, f"a get took {one_version.count} round trips"


def test_a_batch_costs_the_same_round_trips_as_one_create(
    counted: tuple[Registry, RoundTripCounter], principal: Principal
) -> None:
    registry, counter = counted
    registry.create(principal, create_entity("Skill", skill_data()))
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(50)]
    with counter.measure() as trips:
        records = registry.create(principal, parse_batch({"entities": items})).records
    assert len(records) == 50
    assert trips.count <= CREATE_ROUND_TRIPS, f"a batch took {trips.count} round trips"


def test_reads_see_only_their_tenant_on_a_shared_connection(
    counted: tuple[Registry, RoundTripCounter], principal: Principal
) -> None:
    """The pipelined read still sets the tenant inside its own transaction."""
    registry, _ = counted
    record = registry.create(principal, create_entity("Skill", skill_data())).records[0]
    other = Principal("eve@example.com", f"rt-{uuid.uuid4().hex[:12]}", ALL_SCOPES)
    with pytest.raises(Exception, match="no entity"):
        registry.get(other, get_entity(record.entity_id))
    with registry.engine.connect() as conn:
        setting = conn.execute(sa.text("SELECT current_setting('app.tenant_id', true)")).scalar()
    assert not setting
