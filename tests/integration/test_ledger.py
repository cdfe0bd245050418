"""Create, supersede, query and pagination through the Registry, on a real PostgreSQL."""

from __future__ import annotations

import pytest

from shared.core.commands import IdempotencyKey, create_entity, parse_batch, parse_supersede
from shared.core.errors import (
    ConflictError,
    IdempotencyKeyReuseError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    TransitionError,
    ValidationError,
    VersionConflictError,
)
from shared.core.principal import SCOPE_READ, Principal
from shared.core.queries import entity_history, get_entity, list_entities, read_log
from shared.service import Registry
from tests.integration.helpers import (
    certified_skill,
    create,
    industry,
    job_role,
    skill_data,
    unique,
)

pytestmark = pytest.mark.integration


def test_create_assigns_first_version_and_initial_status(
    registry: Registry, admin: Principal
) -> None:
    record = create(registry, admin, "Skill", skill_data())
    assert (record.version, record.status, record.seq, record.supersedes) == (
        1,
        "pending_certification",
        1,
        None,
    )
    assert record.created_by == admin.subject
    assert record.created_at.tzinfo is not None
    assert registry.get(admin, get_entity(record.entity_id)) == record


def test_seq_and_chain_advance_per_tenant(registry: Registry, admin: Principal) -> None:
    first = create(registry, admin, "Industry", {"name": unique("I"), "description": "d"})
    second = create(registry, admin, "Industry", {"name": unique("I"), "description": "d"})
    assert (first.seq, second.seq) == (1, 2)
    assert first.chain_hash != second.chain_hash


def test_supersede_creates_linked_version_and_history(registry: Registry, admin: Principal) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    certified = registry.supersede(
        admin,
        parse_supersede(
            skill.entity_id,
            {"expected_version": 1, "status": "certified", "reason": "review passed"},
        ),
    ).records[0]
    assert (certified.version, certified.supersedes, certified.status) == (2, 1, "certified")
    assert certified.data == skill.data
    history = registry.history(admin, entity_history(skill.entity_id))
    assert [r.version for r in history] == [1, 2]
    assert registry.get(admin, get_entity(skill.entity_id, version=1)) == skill
    assert registry.get(admin, get_entity(skill.entity_id)).version == 2


def test_stale_expected_version_is_a_conflict(registry: Registry, admin: Principal) -> None:
    skill = certified_skill(registry, admin)
    with pytest.raises(VersionConflictError) as err:
        registry.supersede(
            admin,
            parse_supersede(
                skill.entity_id, {"expected_version": 1, "data": skill_data(), "reason": "stale"}
            ),
        )
    assert err.value.current_version == 2


@pytest.mark.parametrize("status", ["certified", "retired"])
def test_certify_and_retire_need_admin(
    registry: Registry, admin: Principal, writer: Principal, status: str
) -> None:
    skill = create(registry, writer, "Skill", skill_data())
    with pytest.raises(PermissionDeniedError):
        registry.supersede(
            writer,
            parse_supersede(
                skill.entity_id, {"expected_version": 1, "status": status, "reason": "r"}
            ),
        )
    assert registry.get(admin, get_entity(skill.entity_id)).version == 1


def test_retired_is_terminal(registry: Registry, admin: Principal) -> None:
    ind = industry(registry, admin)
    registry.supersede(
        admin,
        parse_supersede(
            ind.entity_id, {"expected_version": 1, "status": "retired", "reason": "gone"}
        ),
    )
    with pytest.raises(TransitionError):
        registry.supersede(
            admin,
            parse_supersede(
                ind.entity_id,
                {"expected_version": 2, "data": {"name": "x", "description": "y"}, "reason": "r"},
            ),
        )


def test_invalid_transition_is_refused(registry: Registry, admin: Principal) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    with pytest.raises(TransitionError):
        registry.supersede(
            admin,
            parse_supersede(
                skill.entity_id, {"expected_version": 1, "status": "deprecated", "reason": "r"}
            ),
        )


def test_names_are_unique_per_type_among_live_entities(
    registry: Registry, admin: Principal
) -> None:
    name = unique("Skill")
    first = create(registry, admin, "Skill", skill_data(name))
    with pytest.raises(ConflictError, match="a Skill with this name already exists"):
        create(registry, admin, "Skill", skill_data(f"  {name.upper()} "))
    # Another type may share the name; a retired entity frees it.
    create(registry, admin, "Industry", {"name": name, "description": "d"})
    registry.supersede(
        admin,
        parse_supersede(
            first.entity_id, {"expected_version": 1, "status": "retired", "reason": "r"}
        ),
    )
    assert create(registry, admin, "Skill", skill_data(name)).version == 1


def test_names_are_per_tenant(registry: Registry, admin: Principal) -> None:
    name = unique("Skill")
    create(registry, admin, "Skill", skill_data(name))
    other = Principal("carol", admin.tenant_id + "-other", admin.scopes)
    assert create(registry, other, "Skill", skill_data(name)).seq == 1


def test_job_role_needs_certified_skills(registry: Registry, admin: Principal) -> None:
    pending = create(registry, admin, "Skill", skill_data())
    with pytest.raises(ValidationError) as err:
        job_role(registry, admin, pending.entity_id)
    assert err.value.path == "$.data.required_skills[0]"
    certified = certified_skill(registry, admin)
    assert job_role(registry, admin, certified.entity_id).status == "active"


def test_references_must_exist_in_the_same_tenant(registry: Registry, admin: Principal) -> None:
    other = Principal("carol", admin.tenant_id + "-b", admin.scopes)
    foreign = certified_skill(registry, other)
    with pytest.raises(ValidationError):
        job_role(registry, admin, foreign.entity_id)


def test_agent_and_team_references(registry: Registry, admin: Principal) -> None:
    skill = certified_skill(registry, admin)
    role = job_role(registry, admin, skill.entity_id)
    ind = industry(registry, admin)
    agent_data = {
        "name": unique("Agent"),
        "skill_id": skill.entity_id,
        "job_role_id": role.entity_id,
        "industry_id": ind.entity_id,
    }
    agent = create(registry, admin, "Agent", agent_data)
    team = create(
        registry,
        admin,
        "Team",
        {
            "name": unique("Team"),
            "description": "d",
            "job_role_id": role.entity_id,
            "agents": [agent.entity_id],
        },
    )
    assert team.status == "active"
    registry.supersede(
        admin,
        parse_supersede(ind.entity_id, {"expected_version": 1, "status": "retired", "reason": "r"}),
    )
    with pytest.raises(ValidationError, match="retired"):
        create(registry, admin, "Agent", {**agent_data, "name": unique("Agent")})
    with pytest.raises(ValidationError):
        create(
            registry,
            admin,
            "Agent",
            {**agent_data, "name": unique("A"), "skill_id": role.entity_id},
        )


def test_batch_is_all_or_nothing(registry: Registry, admin: Principal) -> None:
    good = [{"entity_type": "Skill", "data": skill_data()} for _ in range(3)]
    bad = {"entity_type": "Skill", "data": {**skill_data(), "category": "nope"}}
    with pytest.raises(ValidationError) as err:
        registry.create(admin, parse_batch({"entities": [*good, bad]}))
    assert err.value.path == "$.entities[3].data.category"
    assert registry.log(admin, read_log()).items == []
    result = registry.create(admin, parse_batch({"entities": good}))
    assert [r.seq for r in result.records] == [1, 2, 3]


def test_batch_rejects_duplicate_names_and_size_limits(
    registry: Registry, admin: Principal
) -> None:
    data = skill_data()
    with pytest.raises(ConflictError):
        registry.create(
            admin, parse_batch({"entities": [{"entity_type": "Skill", "data": data}] * 2})
        )
    with pytest.raises(ValidationError):
        registry.create(admin, parse_batch({"entities": []}))
    with pytest.raises(ValidationError):
        registry.create(
            admin,
            parse_batch({"entities": [{"entity_type": "Skill", "data": skill_data()}] * 1001}),
        )
    assert registry.log(admin, read_log()).items == []


def test_batch_of_1000(registry: Registry, admin: Principal) -> None:
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(1000)]
    result = registry.create(admin, parse_batch({"entities": items}))
    assert len(result.records) == 1000
    assert registry.audit(admin).valid


def test_idempotent_replay_and_key_reuse(registry: Registry, admin: Principal) -> None:
    data = skill_data()
    first = registry.create(
        admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("key-1")
    )
    again = registry.create(
        admin, create_entity("Skill", data), idempotency_key=IdempotencyKey("key-1")
    )
    assert again.replayed and not first.replayed
    assert again.records == first.records
    with pytest.raises(IdempotencyKeyReuseError):
        registry.create(
            admin, create_entity("Skill", skill_data()), idempotency_key=IdempotencyKey("key-1")
        )
    assert len(registry.log(admin, read_log()).items) == 1


def test_failed_write_leaves_nothing(registry: Registry, admin: Principal) -> None:
    with pytest.raises(ValidationError):
        registry.create(
            admin,
            create_entity("Skill", {**skill_data(), "category": "bogus"}),
            idempotency_key=IdempotencyKey("k"),
        )
    assert registry.log(admin, read_log()).items == []
    # The key was not consumed by the failed attempt.
    assert not registry.create(
        admin, create_entity("Skill", skill_data()), idempotency_key=IdempotencyKey("k")
    ).replayed


def test_read_scope_cannot_write(registry: Registry, tenant: str) -> None:
    reader = Principal("r", tenant, frozenset({SCOPE_READ}))
    with pytest.raises(PermissionDeniedError):
        registry.create(reader, create_entity("Skill", skill_data()))


def test_other_tenants_entities_are_not_found(registry: Registry, admin: Principal) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    intruder = Principal("mallory", admin.tenant_id + "-x", admin.scopes)
    for call in (
        lambda: registry.get(intruder, get_entity(skill.entity_id)),
        lambda: registry.history(intruder, entity_history(skill.entity_id)),
        lambda: registry.verify(intruder, get_entity(skill.entity_id)),
        lambda: registry.supersede(
            intruder,
            parse_supersede(
                skill.entity_id, {"expected_version": 1, "status": "certified", "reason": "r"}
            ),
        ),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_list_filters_and_keyset_pagination(registry: Registry, admin: Principal) -> None:
    made = [create(registry, admin, "Skill", skill_data()).entity_id for _ in range(7)]
    create(registry, admin, "Industry", {"name": unique("I"), "description": "d"})
    registry.supersede(
        admin,
        parse_supersede(made[0], {"expected_version": 1, "status": "certified", "reason": "ok"}),
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = registry.list_entities(
            admin, list_entities(entity_type="Skill", limit=3, cursor=cursor)
        )
        seen += [r.entity_id for r in page.items]
        assert all(r.entity_type == "Skill" for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == made  # creation order, each entity once, at its current version
    certified = registry.list_entities(
        admin, list_entities(entity_type="Skill", status="certified")
    )
    assert [(r.entity_id, r.version) for r in certified.items] == [(made[0], 2)]


def test_tampered_or_misused_cursor_is_refused(registry: Registry, admin: Principal) -> None:
    for _ in range(3):
        create(registry, admin, "Skill", skill_data())
    page = registry.list_entities(admin, list_entities(entity_type="Skill", limit=1))
    assert page.next_cursor
    tampered = (
        page.next_cursor[:-2] + ("A" if page.next_cursor[-2] != "A" else "B") + page.next_cursor[-1]
    )
    for bad in (tampered, "not-a-cursor", ""):
        with pytest.raises(InputError):
            registry.list_entities(
                admin, list_entities(entity_type="Skill", limit=1, cursor=bad or "x")
            )
    with pytest.raises(InputError):
        registry.list_entities(
            admin, list_entities(entity_type="Industry", limit=1, cursor=page.next_cursor)
        )


def test_log_pages_in_seq_order(registry: Registry, admin: Principal) -> None:
    for _ in range(5):
        create(registry, admin, "Skill", skill_data())
    first = registry.log(admin, read_log(from_seq=1, limit=2))
    assert [r.seq for r in first.items] == [1, 2] and first.next_from_seq == 3
    rest = registry.log(admin, read_log(from_seq=3, limit=10))
    assert [r.seq for r in rest.items] == [3, 4, 5] and rest.next_from_seq is None


def test_data_carried_forward_from_canonical_bytes(registry: Registry, admin: Principal) -> None:
    skill = create(registry, admin, "Skill", skill_data())
    newer = registry.supersede(
        admin,
        parse_supersede(
            skill.entity_id, {"expected_version": 1, "status": "certified", "reason": "ok"}
        ),
    ).records[0]
    assert newer.data == skill.data
    registry.sign_checkpoint(admin)
    assert registry.verify(admin, get_entity(skill.entity_id)).valid


def test_versions_and_seqs_beyond_the_columns_are_refused_before_sql(
    registry: Registry, admin: Principal
) -> None:
    # The query names something no column can hold: the same 400 the HTTP edge gives,
    # never a storage error from the database.
    skill = create(registry, admin, "Skill", skill_data())
    for build in (
        lambda: get_entity(skill.entity_id, version=2**31),
        lambda: get_entity(skill.entity_id, version=4778261618),
        lambda: read_log(from_seq=2**63),
    ):
        with pytest.raises(InputError):
            build()
    with pytest.raises(NotFoundError):
        registry.get(admin, get_entity(skill.entity_id, version=2**31 - 1))


def test_out_of_range_values_that_reach_sql_are_input_errors(
    registry: Registry, admin: Principal
) -> None:
    """The repository's safety net: a DataError is the caller's input, never a 503."""
    skill = create(registry, admin, "Skill", skill_data())
    with (
        pytest.raises(InputError),
        registry.repository.tenant_transaction(admin.tenant_id) as tx,
    ):
        tx.version(skill.entity_id, 2**40)
