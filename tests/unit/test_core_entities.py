from __future__ import annotations

import itertools
from typing import Any

import pytest

from shared.core.entities import (
    ENTITY_TYPES,
    SENIORITY_LEVELS,
    SKILL_CATEGORIES,
    Reference,
    check_transition,
    initial_status,
    is_terminal,
    name_key,
    references,
    transition_needs_admin,
    validate_data,
)
from shared.core.errors import InputError, PermissionDeniedError, TransitionError, ValidationError
from shared.core.principal import (
    SCOPE_ADMIN,
    SCOPE_READ,
    SCOPE_WRITE,
    Principal,
)


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


VALID: dict[str, dict[str, Any]] = {
    "Skill": {
        "name": "Python",
        "description": "The language",
        "category": "technical",
        "tags": ["lang", "backend"],
    },
    "Industry": {"name": "Energy", "description": "Power and utilities"},
    "JobRole": {
        "name": "Backend engineer",
        "description": "Builds services",
        "seniority_level": "senior",
        "required_skills": [uid(1), uid(2)],
        "industry_id": uid(3),
    },
    "Agent": {
        "name": "Agent Smith",
        "skill_id": uid(1),
        "job_role_id": uid(4),
        "industry_id": uid(3),
        "team_id": uid(5),
    },
    "Team": {
        "name": "Platform",
        "description": "Runs the platform",
        "job_role_id": uid(4),
        "agents": [uid(6), uid(7)],
        "industry_id": uid(3),
    },
}
REQUIRED = {
    "Skill": ["name", "description", "category"],
    "Industry": ["name", "description"],
    "JobRole": ["name", "description", "seniority_level", "required_skills"],
    "Agent": ["name", "skill_id", "job_role_id", "industry_id"],
    "Team": ["name", "description", "job_role_id", "agents"],
}
OPTIONAL = {
    "Skill": ["tags"],
    "Industry": [],
    "JobRole": ["industry_id"],
    "Agent": ["team_id"],
    "Team": ["industry_id"],
}


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_valid_data_passes_unchanged(entity_type: str) -> None:
    assert validate_data(entity_type, VALID[entity_type]) == VALID[entity_type]


def test_entity_type_constants() -> None:
    assert ENTITY_TYPES == ("Skill", "Industry", "JobRole", "Agent", "Team")
    assert {"technical", "soft_skill", "domain_expertise", "certification"} == SKILL_CATEGORIES
    assert {"junior", "mid", "senior"} == SENIORITY_LEVELS


def test_strings_are_stripped() -> None:
    data = {
        "name": "  Python\n",
        "description": "\tThe language ",
        "category": " technical",
        "tags": [" a ", "b"],
    }
    assert validate_data("Skill", data) == {
        "name": "Python",
        "description": "The language",
        "category": "technical",
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_optional_fields_absent_or_null_are_omitted(entity_type: str) -> None:
    base = {k: v for k, v in VALID[entity_type].items() if k not in OPTIONAL[entity_type]}
    assert validate_data(entity_type, base) == base
    with_nulls = {**base, **{k: None for k in OPTIONAL[entity_type]}}
    assert validate_data(entity_type, with_nulls) == base


def test_empty_tags_are_omitted() -> None:
    data = {**VALID["Skill"], "tags": []}
    assert "tags" not in validate_data("Skill", data)


@pytest.mark.parametrize(
    ("entity_type", "field"),
    [(t, f) for t, fields in REQUIRED.items() for f in fields],
)
def test_missing_required_field(entity_type: str, field: str) -> None:
    data = {k: v for k, v in VALID[entity_type].items() if k != field}
    with pytest.raises(ValidationError) as info:
        validate_data(entity_type, data)
    assert info.value.path == f"$.data.{field}"
    with pytest.raises(ValidationError):
        validate_data(entity_type, {**VALID[entity_type], field: None})


def test_unknown_entity_type() -> None:
    with pytest.raises(ValidationError) as info:
        validate_data("Robot", {})
    assert info.value.path == "$.entity_type"
    assert not isinstance(info.value, InputError)
    with pytest.raises(ValidationError):
        initial_status("skill")


@pytest.mark.parametrize("data", [[], "x", None, 1])
def test_data_not_an_object(data: object) -> None:
    with pytest.raises(InputError) as info:
        validate_data("Skill", data)
    assert info.value.path == "$.data"


def test_unknown_field_is_input_error() -> None:
    with pytest.raises(InputError) as info:
        validate_data("Industry", {**VALID["Industry"], "colour": "red"})
    assert info.value.path == "$.data.colour"
    with pytest.raises(InputError) as info:
        validate_data("Industry", {**VALID["Industry"], "a b": 1}, path="$.entities[3].data")
    assert info.value.path == "$.entities[3].data['a b']"


@pytest.mark.parametrize(
    ("entity_type", "field", "value", "message"),
    [
        ("Skill", "name", "", "must not be empty"),
        ("Skill", "name", "   ", "must not be empty"),
        ("Skill", "name", 5, "string"),
        ("Skill", "name", True, "string"),
        ("Skill", "name", ["x"], "string"),
        ("Skill", "name", "x" * 201, "at most 200"),
        ("Skill", "description", "x" * 4001, "at most 4000"),
        ("Skill", "category", "cooking", "one of"),
        ("Skill", "category", "Technical", "one of"),
        ("Skill", "category", 1, "string"),
        ("Skill", "tags", "a,b", "list"),
        ("Skill", "tags", ["x"] * 0 + [f"t{i}" for i in range(33)], "0 to 32"),
        ("Skill", "tags", ["x" * 65], "at most 64"),
        ("Skill", "tags", [""], "must not be empty"),
        ("Skill", "tags", ["a", " a "], "duplicate"),
        ("Skill", "tags", [1], "string"),
        ("JobRole", "seniority_level", "principal", "one of"),
        ("JobRole", "required_skills", [], "1 to 100"),
        ("JobRole", "required_skills", [uid(i) for i in range(101)], "1 to 100"),
        ("JobRole", "required_skills", [uid(1), uid(1)], "duplicate"),
        ("JobRole", "required_skills", uid(1), "list"),
        ("JobRole", "industry_id", "not-a-uuid", "UUID"),
        ("Agent", "skill_id", uid(0xABC).upper(), "UUID"),
        ("Agent", "skill_id", uid(1).replace("-", ""), "UUID"),
        ("Agent", "skill_id", "{" + uid(1) + "}", "UUID"),
        ("Agent", "skill_id", " " + uid(1), "UUID"),
        ("Agent", "job_role_id", 12, "id string"),
        ("Agent", "team_id", "", "UUID"),
        ("Team", "agents", [], "1 to 1000"),
        ("Team", "agents", [uid(i) for i in range(1001)], "1 to 1000"),
        ("Team", "agents", [uid(1), "x"], "UUID"),
    ],
)
def test_invalid_values(entity_type: str, field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        validate_data(entity_type, {**VALID[entity_type], field: value})
    assert info.value.path.startswith(f"$.data.{field}")
    assert not isinstance(info.value, InputError)


def test_error_paths_point_at_list_items() -> None:
    with pytest.raises(ValidationError) as info:
        validate_data("Team", {**VALID["Team"], "agents": [uid(1), uid(2), "bad"]})
    assert info.value.path == "$.data.agents[2]"
    with pytest.raises(ValidationError) as info:
        validate_data("Skill", {**VALID["Skill"], "tags": ["a", "b", "a"]})
    assert info.value.path == "$.data.tags[2]"


def test_bounds_are_inclusive() -> None:
    data = {
        "name": "n" * 200,
        "description": "d" * 4000,
        "category": "certification",
        "tags": [f"{i:064d}" for i in range(32)],
    }
    assert validate_data("Skill", data) == data
    role = {**VALID["JobRole"], "required_skills": [uid(i) for i in range(100)]}
    assert validate_data("JobRole", role) == role
    team = {**VALID["Team"], "agents": [uid(i) for i in range(1000)]}
    assert validate_data("Team", team) == team


def test_every_enum_value_accepted() -> None:
    for category in SKILL_CATEGORIES:
        validate_data("Skill", {**VALID["Skill"], "category": category})
    for level in SENIORITY_LEVELS:
        validate_data("JobRole", {**VALID["JobRole"], "seniority_level": level})


# --- lifecycle --------------------------------------------------------------------------

ALLOWED = {
    "Skill": {
        ("pending_certification", "pending_certification"),
        ("pending_certification", "certified"),
        ("pending_certification", "retired"),
        ("certified", "certified"),
        ("certified", "deprecated"),
        ("certified", "retired"),
        ("deprecated", "deprecated"),
        ("deprecated", "retired"),
    },
    "other": {("active", "active"), ("active", "retired")},
}
# The lifecycles, written out here so the test does not read them from the code.
SKILL_LIFECYCLE = ("pending_certification", "certified", "deprecated", "retired")
OTHER_LIFECYCLE = ("active", "retired")
STATUSES_BY_TYPE = {
    entity_type: SKILL_LIFECYCLE if entity_type == "Skill" else OTHER_LIFECYCLE
    for entity_type in ("Skill", "Industry", "JobRole", "Agent", "Team")
}
ALL_STATUSES = (*SKILL_LIFECYCLE, "active")


def test_initial_status() -> None:
    assert initial_status("Skill") == "pending_certification"
    for entity_type in ("Industry", "JobRole", "Agent", "Team"):
        assert initial_status(entity_type) == "active"


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_every_transition(entity_type: str) -> None:
    allowed = ALLOWED["Skill" if entity_type == "Skill" else "other"]
    valid = set(STATUSES_BY_TYPE[entity_type])
    for current, new in itertools.product(ALL_STATUSES, ALL_STATUSES):
        if (current, new) in allowed:
            check_transition(entity_type, current, new)
        else:
            with pytest.raises(TransitionError) as info:
                check_transition(entity_type, current, new)
            assert info.value.path == "$.status"
            assert current in valid or "not a" in info.value.detail
    with pytest.raises(TransitionError):
        check_transition(entity_type, "retired", "retired")
    with pytest.raises(TransitionError):
        check_transition(entity_type, STATUSES_BY_TYPE[entity_type][0], "bogus")


def test_terminal() -> None:
    assert is_terminal("retired")
    for status in ("pending_certification", "certified", "deprecated", "active"):
        assert not is_terminal(status)


@pytest.mark.parametrize(
    ("entity_type", "current", "new", "admin"),
    [
        ("Skill", "pending_certification", "certified", True),
        ("Skill", "pending_certification", "retired", True),
        ("Skill", "certified", "deprecated", False),
        ("Skill", "certified", "retired", True),
        ("Skill", "deprecated", "retired", True),
        ("Skill", "certified", "certified", False),
        ("Skill", "pending_certification", "pending_certification", False),
        ("Industry", "active", "retired", True),
        ("Agent", "active", "active", False),
        ("Team", "active", "retired", True),
        ("JobRole", "active", "retired", True),
    ],
)
def test_admin_requirements(entity_type: str, current: str, new: str, admin: bool) -> None:
    assert transition_needs_admin(entity_type, current, new) is admin


# --- references and names ------------------------------------------------------------------


def test_references() -> None:
    assert references("Skill", VALID["Skill"]) == []
    assert references("Industry", VALID["Industry"]) == []
    assert references("JobRole", VALID["JobRole"]) == [
        Reference("$.data.required_skills[0]", uid(1), "Skill", True),
        Reference("$.data.required_skills[1]", uid(2), "Skill", True),
        Reference("$.data.industry_id", uid(3), "Industry", False),
    ]
    assert references("Agent", VALID["Agent"]) == [
        Reference("$.data.skill_id", uid(1), "Skill", False),
        Reference("$.data.job_role_id", uid(4), "JobRole", False),
        Reference("$.data.industry_id", uid(3), "Industry", False),
        Reference("$.data.team_id", uid(5), "Team", False),
    ]
    assert references("Team", VALID["Team"]) == [
        Reference("$.data.job_role_id", uid(4), "JobRole", False),
        Reference("$.data.agents[0]", uid(6), "Agent", False),
        Reference("$.data.agents[1]", uid(7), "Agent", False),
        Reference("$.data.industry_id", uid(3), "Industry", False),
    ]


def test_references_skip_absent_optional_fields() -> None:
    data = {k: v for k, v in VALID["Agent"].items() if k != "team_id"}
    assert [r.expected_type for r in references("Agent", data)] == ["Skill", "JobRole", "Industry"]
    assert references("Team", VALID["Team"], path="$.entities[0].data")[0].path == (
        "$.entities[0].data.job_role_id"
    )


def test_name_key() -> None:
    assert name_key("  Python ") == name_key("PYTHON") == "python"
    assert name_key("Stra\u00dfe") == name_key("STRASSE")
    # Composed and decomposed forms of é are the same name.
    assert name_key("Caf\u00e9") == name_key("Cafe\u0301")
    assert name_key("Python") != name_key("Pythons")


# --- principal -------------------------------------------------------------------------------


def test_principal_scopes() -> None:
    principal = Principal("svc-a", "acme", frozenset({SCOPE_READ, SCOPE_WRITE}))
    principal.require(SCOPE_READ)
    principal.require(SCOPE_WRITE)
    with pytest.raises(PermissionDeniedError) as info:
        principal.require(SCOPE_ADMIN)
    assert info.value.evidence["required_scope"] == "registry:admin"
    assert (SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN) == (
        "registry:read",
        "registry:write",
        "registry:admin",
    )
