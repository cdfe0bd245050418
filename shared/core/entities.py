"""Entity types, their data rules, lifecycles and references: the registry's domain.

Example::

    >>> validate_data("Skill", {"name": " Python ", "description": "The language",
    ...                         "category": "technical"})
    {'name': 'Python', 'description': 'The language', 'category': 'technical'}
    >>> status = initial_status("Skill")
    >>> status
    'pending_certification'
    >>> check_transition("Skill", status, "certified")
    >>> transition_needs_admin("Skill", status, "certified")
    True
    >>> skill_id = "01a20fba-5779-709b-92a3-e727764cf77c"
    >>> [ref.path for ref in references("JobRole", {"required_skills": [skill_id]})]
    ['$.data.required_skills[0]']

Normalisation choices (so equal inputs give equal canonical bytes):
- strings are stripped of surrounding whitespace, then bounds are checked;
- an optional field that is absent, null, or (for ``tags``) an empty list is omitted
  from the result — never stored as null;
- duplicate tags or ids are rejected (ValidationError), not silently merged, so the
  stored data is exactly what the client sent, minus whitespace;
- ids must already be canonical (lowercase, hyphenated UUIDs) and are not stripped.

Fault split: a body that is not an object or carries unknown fields is malformed
(InputError, HTTP 400); missing, mistyped, out-of-bounds or unknown enum values break a
domain rule (ValidationError, HTTP 422).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from shared.core.errors import InputError, TransitionError, ValidationError

SKILL = "Skill"
INDUSTRY = "Industry"
JOB_ROLE = "JobRole"
AGENT = "Agent"
TEAM = "Team"
ENTITY_TYPES = (SKILL, INDUSTRY, JOB_ROLE, AGENT, TEAM)

PENDING_CERTIFICATION = "pending_certification"
CERTIFIED = "certified"
DEPRECATED = "deprecated"
ACTIVE = "active"
RETIRED = "retired"

SKILL_CATEGORIES = frozenset({"technical", "soft_skill", "domain_expertise", "certification"})
SENIORITY_LEVELS = frozenset({"junior", "mid", "senior"})

NAME_MAX = 200
DESCRIPTION_MAX = 4000
TAGS_MAX = 32
TAG_MAX = 64
REQUIRED_SKILLS_MAX = 100
AGENTS_MAX = 1000

# An entity id: a lowercase, hyphenated UUID, the one form ids are stored and compared in.
ENTITY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")

# Allowed status changes; staying in the same non-terminal status is always allowed.
_SKILL_TRANSITIONS: Mapping[str, frozenset[str]] = {
    PENDING_CERTIFICATION: frozenset({CERTIFIED, RETIRED}),
    CERTIFIED: frozenset({DEPRECATED, RETIRED}),
    DEPRECATED: frozenset({RETIRED}),
    RETIRED: frozenset(),
}
_DEFAULT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    ACTIVE: frozenset({RETIRED}),
    RETIRED: frozenset(),
}


# --- field validators ---------------------------------------------------------------

_Validator = Callable[[object, str], Any]


def _text(max_length: int) -> _Validator:
    def validate(value: object, path: str) -> str:
        if not isinstance(value, str):
            raise ValidationError("must be a string", path=path)
        text = value.strip()
        if not text:
            raise ValidationError("must not be empty", path=path)
        if len(text) > max_length:
            raise ValidationError(f"must be at most {max_length} characters", path=path)
        return text

    return validate


def _enum(allowed: frozenset[str]) -> _Validator:
    def validate(value: object, path: str) -> str:
        if not isinstance(value, str):
            raise ValidationError("must be a string", path=path)
        text = value.strip()
        if text not in allowed:
            raise ValidationError(f"must be one of {', '.join(sorted(allowed))}", path=path)
        return text

    return validate


def _entity_id(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationError("must be an entity id string", path=path)
    if not ENTITY_ID.match(value):
        raise ValidationError("must be a lowercase hyphenated UUID", path=path)
    return value


def _unique_list(item: _Validator, *, low: int, high: int, what: str) -> _Validator:
    def validate(value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError(f"must be a list of {what}", path=path)
        if not low <= len(value) <= high:
            raise ValidationError(f"must have {low} to {high} {what}", path=path)
        result: list[Any] = []
        seen: set[Any] = set()
        for index, element in enumerate(value):
            element_path = f"{path}[{index}]"
            normalised = item(element, element_path)
            if normalised in seen:
                raise ValidationError(f"duplicate {normalised!r}", path=element_path)
            seen.add(normalised)
            result.append(normalised)
        return result

    return validate


_name = _text(NAME_MAX)
_description = _text(DESCRIPTION_MAX)
_tags = _unique_list(_text(TAG_MAX), low=0, high=TAGS_MAX, what="tags")
_required_skills = _unique_list(_entity_id, low=1, high=REQUIRED_SKILLS_MAX, what="skill ids")
_agents = _unique_list(_entity_id, low=1, high=AGENTS_MAX, what="agent ids")


@dataclasses.dataclass(frozen=True)
class _Field:
    validate: _Validator
    required: bool = True


_SCHEMAS: Mapping[str, Mapping[str, _Field]] = {
    SKILL: {
        "name": _Field(_name),
        "description": _Field(_description),
        "category": _Field(_enum(SKILL_CATEGORIES)),
        "tags": _Field(_tags, required=False),
    },
    INDUSTRY: {
        "name": _Field(_name),
        "description": _Field(_description),
    },
    JOB_ROLE: {
        "name": _Field(_name),
        "description": _Field(_description),
        "seniority_level": _Field(_enum(SENIORITY_LEVELS)),
        "required_skills": _Field(_required_skills),
        "industry_id": _Field(_entity_id, required=False),
    },
    AGENT: {
        "name": _Field(_name),
        "skill_id": _Field(_entity_id),
        "job_role_id": _Field(_entity_id),
        "industry_id": _Field(_entity_id),
        "team_id": _Field(_entity_id, required=False),
    },
    TEAM: {
        "name": _Field(_name),
        "description": _Field(_description),
        "job_role_id": _Field(_entity_id),
        "agents": _Field(_agents),
        "industry_id": _Field(_entity_id, required=False),
    },
}


def is_entity_id(value: object) -> bool:
    return isinstance(value, str) and ENTITY_ID.match(value) is not None


def entity_type(
    value: object,
    *,
    path: str = "$.entity_type",
    error: type[InputError | ValidationError] = ValidationError,
) -> str:
    """``value`` as one of ENTITY_TYPES, or ``error`` naming them.

    In a body an unknown type breaks a rule (422); as a query filter it is a bad
    parameter (InputError, 400).
    """
    if not isinstance(value, str) or value not in _SCHEMAS:
        raise error(f"entity_type must be one of {', '.join(ENTITY_TYPES)}", path=path)
    return value


def _require_type(value: str) -> None:
    entity_type(value)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def validate_data(entity_type: str, data: object, *, path: str = "$.data") -> dict[str, Any]:
    """Return the normalised data for ``entity_type`` or raise with the offending path."""
    _require_type(entity_type)
    schema = _SCHEMAS[entity_type]
    if not isinstance(data, Mapping):
        raise InputError("data must be a JSON object", path=path)
    for key in data:
        if key not in schema:
            # Unknown fields are refused rather than dropped: silently discarding input
            # would sign something other than what the client believes it sent.
            raise InputError(
                f"unknown field for {entity_type}; allowed: {', '.join(schema)}",
                path=_key_path(path, str(key)),
            )
    result: dict[str, Any] = {}
    for name, spec in schema.items():
        field_path = f"{path}.{name}"
        value = data.get(name)
        if value is None:
            if spec.required:
                raise ValidationError("is required", path=field_path)
            continue
        normalised = spec.validate(value, field_path)
        if not spec.required and normalised == []:
            continue
        result[name] = normalised
    return result


# --- lifecycle ----------------------------------------------------------------------


def initial_status(entity_type: str) -> str:
    _require_type(entity_type)
    return PENDING_CERTIFICATION if entity_type == SKILL else ACTIVE


def is_terminal(status: str) -> bool:
    """Retired entities accept no further versions, not even data changes."""
    return status == RETIRED


def check_transition(entity_type: str, current: str, new: str) -> None:
    """Raise TransitionError unless ``current`` -> ``new`` is allowed for the type."""
    _require_type(entity_type)
    transitions = _SKILL_TRANSITIONS if entity_type == SKILL else _DEFAULT_TRANSITIONS
    if current not in transitions:
        raise TransitionError(
            f"{current!r} is not a {entity_type} status", path="$.status", current=current
        )
    if new not in transitions:
        raise TransitionError(
            f"status must be one of {', '.join(transitions)} for {entity_type}",
            path="$.status",
            current=current,
        )
    if is_terminal(current):
        raise TransitionError(
            f"{entity_type} is {current}; {current} is terminal", path="$.status", current=current
        )
    if new != current and new not in transitions[current]:
        raise TransitionError(
            f"{entity_type} cannot go from {current} to {new}", path="$.status", current=current
        )


def transition_needs_admin(entity_type: str, current: str, new: str) -> bool:
    """Certifying a Skill and retiring anything need the admin scope."""
    if new == current:
        return False
    return new == RETIRED or (entity_type == SKILL and new == CERTIFIED)


# --- references ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reference:
    """An id in ``data`` that must resolve to a live entity of ``expected_type``.

    Every reference must exist in the same tenant and not be retired; a reference with
    ``must_be_certified`` must also currently be ``certified``.
    """

    path: str
    entity_id: str
    expected_type: str
    must_be_certified: bool = False


# (field, referenced type, must be certified), per entity type.
_REFERENCE_FIELDS: Mapping[str, tuple[tuple[str, str, bool], ...]] = {
    SKILL: (),
    INDUSTRY: (),
    JOB_ROLE: (("required_skills", SKILL, True), ("industry_id", INDUSTRY, False)),
    AGENT: (
        ("skill_id", SKILL, False),
        ("job_role_id", JOB_ROLE, False),
        ("industry_id", INDUSTRY, False),
        ("team_id", TEAM, False),
    ),
    TEAM: (
        ("job_role_id", JOB_ROLE, False),
        ("agents", AGENT, False),
        ("industry_id", INDUSTRY, False),
    ),
}


def references(
    entity_type: str, data: Mapping[str, Any], *, path: str = "$.data"
) -> list[Reference]:
    """Every entity id that ``data`` (already validated) refers to, in field order."""
    _require_type(entity_type)
    found: list[Reference] = []
    for name, target, certified in _REFERENCE_FIELDS[entity_type]:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            found.extend(
                Reference(f"{path}.{name}[{i}]", item, target, certified)
                for i, item in enumerate(value)
            )
        else:
            found.append(Reference(f"{path}.{name}", value, target, certified))
    return found


def name_key(name: str) -> str:
    """Uniqueness key for names: NFC, stripped, case-folded (then NFC again, since
    case folding can produce decomposed sequences)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).strip().casefold())
