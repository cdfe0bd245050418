"""Point-in-time reads: the registry as it stood at a seq or a moment of the tenant's log.

Run as the runtime role under RLS (the session's ``registry``), against real PostgreSQL;
served records are verified like every read, so a DBA's edit fails closed here too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from shared.core import queries
from shared.core.asof import AsOf
from shared.core.commands import parse_supersede
from shared.core.errors import InputError, IntegrityViolationError, NotFoundError
from shared.core.principal import Principal
from shared.core.records import VersionRecord
from shared.service import Registry
from tests.integration.helpers import Dba, certified_skill, create, industry, skill_data

pytestmark = pytest.mark.integration


def _history(registry: Registry, admin: Principal) -> dict[str, Any]:
    """seq 1-2: a Skill, certified; 3: an Industry; 4: a second Skill; 5: the first retired."""
    skill = certified_skill(registry, admin)
    sector = industry(registry, admin)
    other = create(registry, admin, "Skill", skill_data())
    retire = {"expected_version": 2, "status": "retired", "reason": "gone"}
    retired = registry.supersede(admin, parse_supersede(skill.entity_id, retire)).records[0]
    return {"skill": skill.entity_id, "industry": sector, "other": other, "retired": retired}


def _get(registry: Registry, principal: Principal, entity_id: str, seq: int) -> VersionRecord:
    return registry.get(principal, queries.get_entity(entity_id, as_of=AsOf(seq=seq)))


def _at(registry: Registry, principal: Principal, entity_id: str, point: AsOf) -> VersionRecord:
    return registry.get(principal, queries.get_entity(entity_id, as_of=point))


def _list(registry: Registry, principal: Principal, **options: Any) -> list[VersionRecord]:
    return registry.list_entities(principal, queries.list_entities(**options)).items


def _log(registry: Registry, principal: Principal, from_seq: int = 1) -> list[VersionRecord]:
    return registry.log(principal, queries.read_log(from_seq=from_seq, limit=10)).items


def test_get_as_of_seq_serves_the_version_current_then(
    registry: Registry, admin: Principal
) -> None:
    made = _history(registry, admin)
    assert made["retired"].seq == 5
    by_seq = {seq: _get(registry, admin, made["skill"], seq) for seq in range(1, 6)}
    assert [(r.version, r.status) for r in by_seq.values()] == [
        (1, "pending_certification"),
        (2, "certified"),
        (2, "certified"),
        (2, "certified"),
        (3, "retired"),
    ]
    assert by_seq[5] == registry.get(admin, queries.get_entity(made["skill"]))
    # Not yet created at seq 3; a seq the log has not reached is no point of it.
    with pytest.raises(NotFoundError):
        _get(registry, admin, made["other"].entity_id, 3)
    assert _get(registry, admin, made["other"].entity_id, 4) == made["other"]
    with pytest.raises(NotFoundError, match="beyond the log"):
        _get(registry, admin, made["skill"], 6)


def test_list_as_of_seq_is_the_registry_then(registry: Registry, admin: Principal) -> None:
    made = _history(registry, admin)

    def listed(seq: int, **filters: Any) -> list[tuple[str, int]]:
        items = _list(registry, admin, limit=200, as_of=AsOf(seq=seq), **filters)
        return [(r.entity_id, r.version) for r in items]

    assert listed(1) == [(made["skill"], 1)]
    assert listed(3) == [(made["skill"], 2), (made["industry"].entity_id, 1)]
    assert listed(2, status="certified") == [(made["skill"], 2)]
    assert listed(5, status="certified") == []
    assert listed(5, status="retired") == [(made["skill"], 3)]
    assert listed(4, entity_type="Skill") == [(made["skill"], 2), (made["other"].entity_id, 1)]
    now = _list(registry, admin, limit=200)
    assert [(r.entity_id, r.version) for r in now] == listed(5)


def test_pages_as_of_a_point_continue_only_at_that_point(
    registry: Registry, admin: Principal
) -> None:
    made = _history(registry, admin)
    first = registry.list_entities(admin, queries.list_entities(limit=1, as_of=AsOf(seq=4)))
    assert [r.entity_id for r in first.items] == [made["skill"]]
    assert first.next_cursor is not None
    second = _list(registry, admin, limit=1, cursor=first.next_cursor, as_of=AsOf(seq=4))
    assert [r.entity_id for r in second] == [made["industry"].entity_id]
    with pytest.raises(InputError, match="other filters"):
        _list(registry, admin, limit=1, cursor=first.next_cursor, as_of=AsOf(seq=5))
    with pytest.raises(InputError, match="other filters"):
        _list(registry, admin, limit=1, cursor=first.next_cursor)


def test_as_of_a_moment_is_the_prefix_created_by_then(registry: Registry, admin: Principal) -> None:
    made = _history(registry, admin)
    records = _log(registry, admin)
    for record in records:
        at = _at(registry, admin, made["skill"], AsOf(moment=record.created_at))
        expected = _get(registry, admin, made["skill"], record.seq)
        assert at == expected, record.seq
    before = records[0].created_at - timedelta(microseconds=1)
    with pytest.raises(NotFoundError):
        _at(registry, admin, made["skill"], AsOf(moment=before))
    assert _list(registry, admin, limit=10, as_of=AsOf(moment=before)) == []
    later = records[-1].created_at + timedelta(days=1)
    assert _at(registry, admin, made["skill"], AsOf(moment=later)).version == 3


def test_as_of_reads_are_tenant_scoped(registry: Registry, admin: Principal, tenant: str) -> None:
    made = _history(registry, admin)
    stranger = Principal(subject="eve", tenant_id=f"{tenant}-x", scopes=admin.scopes)
    # The other tenant's log is empty: every seq is beyond it, and nothing is listed.
    with pytest.raises(NotFoundError):
        _get(registry, stranger, made["skill"], 1)
    later = made["retired"].created_at + timedelta(days=1)
    with pytest.raises(NotFoundError):
        _at(registry, stranger, made["skill"], AsOf(moment=later))
    assert _list(registry, stranger, limit=10, as_of=AsOf(moment=later)) == []


def test_a_version_as_of_a_point_exists_only_once_written(
    registry: Registry, admin: Principal
) -> None:
    made = _history(registry, admin)

    def version_at(version: int, seq: int) -> VersionRecord:
        query = queries.get_entity(made["skill"], version, as_of=AsOf(seq=seq))
        return registry.get(admin, query)

    assert version_at(2, 4).version == 2
    with pytest.raises(NotFoundError):
        version_at(3, 4)
    assert version_at(3, 5).version == 3


def test_both_points_answer_as_of_the_earlier(registry: Registry, admin: Principal) -> None:
    made = _history(registry, admin)
    records = _log(registry, admin)
    late, early = records[4].created_at, records[0].created_at
    assert _at(registry, admin, made["skill"], AsOf(seq=5, moment=early)).version == 1
    assert _at(registry, admin, made["skill"], AsOf(seq=2, moment=late)).version == 2
    assert AsOf.either(None, None) is None
    with pytest.raises(InputError):
        AsOf()


def test_an_unknown_status_filter_is_refused_not_an_empty_page(
    registry: Registry, admin: Principal
) -> None:
    _history(registry, admin)
    with pytest.raises(InputError, match="status must be one of"):
        _list(registry, admin, limit=10, status="AAA")
    with pytest.raises(InputError, match="status must be one of"):
        _list(registry, admin, limit=10, status="retired ", as_of=AsOf(seq=5))


def test_a_tampered_record_is_never_served_as_of_a_point(
    registry: Registry, admin: Principal, admin_engine: Engine, tenant: str
) -> None:
    made = _history(registry, admin)
    Dba(admin_engine, tenant).run(
        "UPDATE registry.entity_versions SET data = jsonb_set(data, '{name}', '\"Forged\"') "
        "WHERE tenant_id = :t AND seq = 2"
    )
    with pytest.raises(IntegrityViolationError):
        _get(registry, admin, made["skill"], 3)
    with pytest.raises(IntegrityViolationError):
        _list(registry, admin, limit=10, as_of=AsOf(seq=3))
    # Before the edited version existed, the entity still reads as it was.
    assert _get(registry, admin, made["skill"], 1).version == 1


def test_a_moved_created_at_cannot_move_the_bound(
    registry: Registry, admin: Principal, admin_engine: Engine, tenant: str
) -> None:
    made = _history(registry, admin)
    third = _log(registry, admin, from_seq=3)[0]
    # A DBA dates seq 3 a day later, so that "as of" its real moment it would look absent:
    # the record that bounds the prefix is verified, and its column disagrees with its
    # signed created_at.
    Dba(admin_engine, tenant).run(
        "UPDATE registry.entity_versions SET created_at = created_at + interval '1 day' "
        "WHERE tenant_id = :t AND seq = 3"
    )
    with pytest.raises(IntegrityViolationError):
        _at(registry, admin, made["skill"], AsOf(moment=third.created_at))
