"""Property: a single-byte change anywhere in entity_versions never comes back as genuine.

For a random small log and a random one-byte change in any stored column of any row
(done as the superuser, triggers off), every read is compared with what it returned
before the change. Each column is in exactly one class below, and the class says what
the reads may do (ADR 0005, "What the reads depend on"):

- ``SEALED``: columns that are content or seal. Every read that returned the row fails
  closed (IntegrityViolationError); every other read is unchanged.
- ``FILTERS``: ``entity_type`` and ``status`` are content too, so the same holds — except
  that a list filtered by that column may now omit the row (the filter runs on the
  column, in the database). It never serves the row as genuine.
- ``RELOCATING``: ``tenant_id``, ``seq``, ``entity_id``, ``version`` say where a row is.
  Changing one moves the row: where it now appears it fails closed; where it was, it is
  missing. Reads then fail closed or return only records that are byte-identical to
  before (an entity's newest version gone means its current read returns the genuine
  previous one). The full log read fails closed on the gap, except when the log's last
  row leaves the tenant: that is truncation, caught against signed checkpoints.
- ``INDEX_ONLY``: ``name_key`` is read by no response and no record check; only the
  database's name-uniqueness guard uses it. Every read is unchanged.

Changes the database refuses (CHECK constraints, unique keys, invalid UTF-8 or JSON)
are not tampering that can happen, so those examples are discarded.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared.core.commands import create_entity, parse_supersede
from shared.core.errors import IntegrityViolationError, NotFoundError
from shared.core.principal import Principal
from shared.core.queries import (
    EntityHistory,
    GetEntity,
    entity_history,
    get_entity,
    list_entities,
    read_log,
)
from shared.schema import entity_versions
from shared.service import Registry
from tests.conftest import ALL_SCOPES
from tests.integration.helpers import industry, skill_data

pytestmark = pytest.mark.integration

SEALED = frozenset(
    {
        "data",
        "created_at",
        "created_by",
        "reason",
        "supersedes",
        "canonical",
        "leaf_hash",
        "chain_hash",
        "signature",
        "key_id",
    }
)
FILTERS = frozenset({"entity_type", "status"})
RELOCATING = frozenset({"tenant_id", "seq", "entity_id", "version"})
INDEX_ONLY = frozenset({"name_key"})
COLUMNS = sorted(SEALED | FILTERS | RELOCATING | INDEX_ONLY)


def test_every_column_is_classified() -> None:
    assert set(COLUMNS) == {column.name for column in entity_versions.columns}
    assert len(COLUMNS) == len(SEALED) + len(FILTERS) + len(RELOCATING) + len(INDEX_ONLY)


FAILED = "integrity-violation"
MISSING = "not-found"
OPERATIONS = ("skill", "industry", "certify", "revise")


def _build(registry: Registry, principal: Principal, operations: list[str]) -> None:
    skills: list[tuple[str, int, str]] = []  # entity id, current version, status
    for operation in operations:
        if operation == "industry":
            industry(registry, principal)
            continue
        pending = [s for s in skills if s[2] == "pending_certification"]
        if operation == "skill" or not skills or (operation == "certify" and not pending):
            record = registry.create(principal, create_entity("Skill", skill_data())).records[0]
        elif operation == "certify":
            entity_id, version, _ = pending[-1]
            record = registry.supersede(
                principal,
                parse_supersede(
                    entity_id, {"expected_version": version, "status": "certified", "reason": "ok"}
                ),
            ).records[0]
        else:
            entity_id, version, _ = skills[-1]
            record = registry.supersede(
                principal,
                parse_supersede(
                    entity_id,
                    {"expected_version": version, "data": skill_data(), "reason": "revised"},
                ),
            ).records[0]
        skills = [s for s in skills if s[0] != record.entity_id]
        skills.append((record.entity_id, record.version, record.status))


def _reads(registry: Registry, principal: Principal) -> dict[tuple[Any, ...], Callable[[], Any]]:
    log = registry.log(principal, read_log(from_seq=1, limit=1000)).items
    reads: dict[tuple[Any, ...], Callable[[], Any]] = {
        ("log",): lambda: registry.log(principal, read_log(from_seq=1, limit=1000)).items,
        ("list",): lambda: registry.list_entities(principal, list_entities(limit=200)).items,
    }

    def listed(entity_type: str | None = None, status: str | None = None) -> Callable[[], Any]:
        query = list_entities(limit=200, entity_type=entity_type, status=status)
        return lambda: registry.list_entities(principal, query).items

    def got(query: GetEntity) -> Callable[[], Any]:
        return lambda: [registry.get(principal, query)]

    def history(query: EntityHistory) -> Callable[[], Any]:
        return lambda: registry.history(principal, query)

    for entity_type in ("Skill", "Industry"):
        reads[("list", "entity_type", entity_type)] = listed(entity_type=entity_type)
    for status in ("pending_certification", "certified", "active"):
        reads[("list", "status", status)] = listed(status=status)
    for record in log:
        eid = record.entity_id
        reads[("get", eid)] = got(get_entity(eid))
        reads[("history", eid)] = history(entity_history(eid))
        reads[("get", eid, record.version)] = got(get_entity(eid, record.version))
    return reads


def _outcome(read: Callable[[], Any]) -> Any:
    try:
        return [record.to_dict() for record in read()]
    except IntegrityViolationError:
        return FAILED
    except NotFoundError:
        return MISSING


def _changed(value: Any, column: str, index: int, mask: int) -> Any:
    """``value`` with one byte changed, in the column's own representation."""
    if isinstance(value, bytes | memoryview):
        raw = bytearray(bytes(value))
        raw[index % len(raw)] ^= mask
        return bytes(raw)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        width = 8 if column == "seq" else 4
        changed = value ^ (mask << (8 * (index % width)))
        return changed - (1 << 64) if changed >= 1 << 63 else changed
    if isinstance(value, datetime):
        micros = (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                microseconds=micros ^ (mask << (8 * (index % 6)))
            )
        except OverflowError:
            return None
    text = str(value).encode("utf-8")
    raw = bytearray(text)
    raw[index % len(raw)] ^= mask
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _stored(engine: Engine, tenant: str, seq: int, column: str) -> Any:
    expression = "data::text" if column == "data" else column
    with engine.begin() as conn:
        return conn.scalar(
            sa.text(
                f"SELECT {expression} FROM registry.entity_versions "
                "WHERE tenant_id = :t AND seq = :s"
            ),
            {"t": tenant, "s": seq},
        )


def _tamper(engine: Engine, tenant: str, seq: int, column: str, index: int, mask: int) -> bool:
    """Apply the change as the superuser; False when the database refuses it or the
    stored value ends up the same (jsonb normalises some text changes away)."""
    value = _stored(engine, tenant, seq, column)
    new = _changed(value, column, index, mask)
    if new is None or new == value:
        return False
    cast = {"data": "CAST(:v AS jsonb)", "entity_id": "CAST(:v AS uuid)"}.get(column, ":v")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                sa.text(
                    f"UPDATE registry.entity_versions SET {column} = {cast} "
                    "WHERE tenant_id = :t AND seq = :s"
                ),
                {"t": tenant, "s": seq, "v": str(new) if column == "entity_id" else new},
            )
    except sa_exc.DBAPIError as error:
        args = getattr(error.orig, "args", ())
        code = args[0].get("C", "") if args and isinstance(args[0], dict) else ""
        if code.startswith(("22", "23")):  # a data exception or a constraint refused it
            return False
        raise
    if column in ("seq", "tenant_id"):
        return True  # the row moved; it is no longer at (tenant, seq)
    return bool(_stored(engine, tenant, seq, column) != value)


@dataclasses.dataclass(frozen=True)
class Change:
    operations: list[str]
    row: int
    column: str
    index: int
    mask: int


changes = st.builds(
    Change,
    operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=5),
    row=st.integers(min_value=0, max_value=10),
    column=st.sampled_from(COLUMNS),
    index=st.integers(min_value=0, max_value=400),
    mask=st.integers(min_value=1, max_value=255),
)


def _seqs(outcome: Any) -> set[int]:
    return {item["seq"] for item in outcome} if isinstance(outcome, list) else set()


def _check(
    key: tuple[Any, ...], before: Any, after: Any, change: Change, seq: int, tail: int
) -> None:
    touched = seq in _seqs(before)
    column = change.column
    if column in INDEX_ONLY:
        assert after == before, key
        return
    if column in RELOCATING:
        if after in (FAILED, MISSING):
            assert after == FAILED or key[0] in ("get", "history"), (key, after)
        else:
            # Only genuine records, byte-identical to before; an entity whose newest
            # version moved away shows its genuine predecessor as current.
            genuine = _BASELINE[("log",)]
            assert all(item in genuine for item in after), key
            if key[0] != "list":
                assert all(item in before for item in after) or len(key) == 2, key
        if key == ("log",) and not (column == "tenant_id" and seq == tail):
            assert after == FAILED, key
        return
    if column in FILTERS and len(key) == 3 and key[1] == column:
        assert after == FAILED or all(item in before for item in after), key
        return
    assert after == (FAILED if touched else before), (key, after)


_BASELINE: dict[tuple[Any, ...], Any] = {}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=changes)
def test_a_one_byte_change_in_any_column_fails_closed_or_changes_nothing(
    registry: Registry, admin_engine: Engine, change: Change
) -> None:
    principal = Principal("alice", f"prop-{uuid.uuid4().hex[:12]}", ALL_SCOPES)
    _build(registry, principal, change.operations)
    reads = _reads(registry, principal)
    _BASELINE.clear()
    _BASELINE.update({key: _outcome(read) for key, read in reads.items()})
    log = _BASELINE[("log",)]
    seq = log[change.row % len(log)]["seq"]
    assume(
        _tamper(admin_engine, principal.tenant_id, seq, change.column, change.index, change.mask)
    )
    for key, read in reads.items():
        _check(key, _BASELINE[key], _outcome(read), change, seq, tail=log[-1]["seq"])
