"""Builders for valid entity payloads, shared by the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.core.commands import create_entity, parse_supersede
from shared.core.principal import Principal
from shared.core.records import VersionRecord
from shared.service import Registry


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def skill_data(name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or unique("Skill"),
        "description": "Writes and reviews Python services",
        "category": "technical",
        "tags": ["python", "backend"],
    }


def create(
    registry: Registry, principal: Principal, entity_type: str, data: dict[str, Any]
) -> VersionRecord:
    return registry.create(principal, create_entity(entity_type, data)).records[0]


def certified_skill(registry: Registry, admin: Principal) -> VersionRecord:
    skill = create(registry, admin, "Skill", skill_data())
    result = registry.supersede(
        admin,
        parse_supersede(
            skill.entity_id,
            {"expected_version": 1, "status": "certified", "reason": "passed review"},
        ),
    )
    return result.records[0]


def industry(registry: Registry, principal: Principal) -> VersionRecord:
    return create(
        registry, principal, "Industry", {"name": unique("Industry"), "description": "Energy"}
    )


def job_role(registry: Registry, admin: Principal, *skill_ids: str) -> VersionRecord:
    skills = list(skill_ids) or [certified_skill(registry, admin).entity_id]
    return create(
        registry,
        admin,
        "JobRole",
        {
            "name": unique("Role"),
            "description": "Builds the platform",
            "seniority_level": "senior",
            "required_skills": skills,
        },
    )


class Dba:
    """Superuser edits with the append-only triggers switched off."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine, self.tenant = engine, tenant

    def run(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            self._replica(conn)
            conn.execute(sa.text(sql), {"t": self.tenant, **params})

    @staticmethod
    def _replica(conn: Connection) -> None:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
