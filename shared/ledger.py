"""Writes to the log: create (single and batch) and supersede, all-or-nothing.

Every write runs in one tenant transaction that starts with the append lock, so the
records it seals take the next seqs and link to the current chain head. Validation that
needs no database runs before the transaction; reference and name rules run inside it,
under the lock, so they cannot race another writer of the same tenant.

Commands arrive parsed (``shared.core.commands``): their shape, limits and data are
already checked, so the ledger applies only the rules that need the log.

Example::

    ledger = Ledger(repository, signer, RecordGuard(trusted_keys), clock=utc_now)
    command = create_entity("Industry", {"name": "Energy", "description": "Power"})
    result = ledger.create(principal, command, idempotency_key=None)
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared import replay
from shared.core import entities
from shared.core.commands import (
    CreateBatch,
    CreateEntity,
    IdempotencyKey,
    Supersede,
    WriteCommand,
    request_hash,
)
from shared.core.errors import (
    ConflictError,
    IdempotencyKeyReuseError,
    NotFoundError,
    TransitionError,
    ValidationError,
    VersionConflictError,
)
from shared.core.principal import SCOPE_ADMIN, Principal
from shared.core.records import RecordContent, VersionRecord, seal_records
from shared.core.signing import Signer
from shared.integrity import RecordGuard
from shared.repository import LogHead, Repository, TenantTransaction
from shared.repository_tiles import TileStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_entity_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so keyset pagination follows creation order."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """The records a write produced; ``replayed`` when an Idempotency-Key repeated it."""

    records: tuple[VersionRecord, ...]
    replayed: bool = False
    # Tree size of the tenant's latest checkpoint when the write took the lock.
    checkpoint_size: int = 0


@dataclasses.dataclass(frozen=True)
class _Draft:
    """A validated new version waiting for its seq, chain link and signature."""

    path: str
    entity_id: str
    version: int
    entity_type: str
    status: str
    data: dict[str, Any]
    name_key: str
    reason: str | None
    supersedes: int | None
    references: tuple[entities.Reference, ...]


class Ledger:
    """Seals and appends new versions for one registry."""

    def __init__(
        self,
        repository: Repository,
        signer: Signer,
        guard: RecordGuard,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_entity_id,
    ) -> None:
        self._repository = repository
        self._signer = signer
        self._guard = guard
        self._clock = clock
        self._new_id = new_id
        self._key_registered = False
        self._key_lock = threading.Lock()

    # --- operations ------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        command: CreateEntity | CreateBatch,
        *,
        idempotency_key: IdempotencyKey | None,
    ) -> WriteResult:
        """Create every entity of ``command``, all or nothing."""
        principal.require(command.scope)
        drafts = [self._new_entity_draft(path, item) for path, item in command.items()]
        return self._append(principal, command, drafts, idempotency_key)

    def supersede(
        self, principal: Principal, command: Supersede, *, idempotency_key: IdempotencyKey | None
    ) -> WriteResult:
        """Append the next version of ``command.entity_id``."""
        principal.require(command.scope)
        return self._append(principal, command, [], idempotency_key)

    # --- the transaction -------------------------------------------------------------

    def _append(
        self,
        principal: Principal,
        command: WriteCommand,
        drafts: list[_Draft],
        idempotency_key: IdempotencyKey | None,
    ) -> WriteResult:
        self._ensure_key_registered()
        supersede = command if isinstance(command, Supersede) else None
        context_ids = [supersede.entity_id] if supersede is not None else _referenced(drafts)
        command_hash = request_hash(command) if idempotency_key is not None else b""
        with self._repository.append_transaction(
            principal.tenant_id, idempotency_key=idempotency_key, context_ids=context_ids
        ) as (tx, head):
            if idempotency_key is not None:
                stored = tx.find_response(idempotency_key)
                if stored is not None:
                    if stored.request_hash != command_hash:
                        raise IdempotencyKeyReuseError(
                            "this Idempotency-Key was already used with a different request",
                            path="Idempotency-Key",
                        )
                    replayed = replay.stored_records(
                        self._guard, principal, tx, stored.body, supersede
                    )
                    return WriteResult(replayed, replayed=True)
            # Everything this write builds on is verified before any rule reads it.
            context = tx.write_context(head.seq, context_ids)
            self._guard.head(context.head, context.previous_chain_hash, use="chaining onto")
            current = {
                entity_id: self._guard.record(record, use="a rule of this write")
                for entity_id, record in context.current.items()
            }
            if supersede is not None:
                target_record = current.get(supersede.entity_id)
                drafts = [self._successor_draft(principal, target_record, supersede)]
                current = {
                    ref_id: self._guard.record(record, use="a reference of this write")
                    for ref_id, record in tx.current_records(_referenced(drafts)).items()
                }
            self._check_batch_names(drafts)
            self._check_references(current, drafts)
            records = self._seal(principal, drafts, head)
            if tx.insert_records(records, [d.name_key for d in drafts]) != len(records):
                self._raise_name_conflict(tx, drafts)
            self._guard.remember(records)
            # Tiles complete in the same transaction as their records (ADR 0006).
            TileStore(tx).append(head.seq, records, records[0].created_at)
            if idempotency_key is not None:
                # Only where the records are: a replay re-reads and re-verifies them from
                # the log, so the row stays tiny however large the batch was.
                body = replay.response_body(records)
                tx.store_response(idempotency_key, command_hash, body, records[0].created_at)
        return WriteResult(tuple(records), checkpoint_size=head.checkpoint_size)

    def _seal(
        self, principal: Principal, drafts: Sequence[_Draft], head: LogHead
    ) -> list[VersionRecord]:
        created_at = self._clock().astimezone(UTC)
        fields = [
            RecordContent(
                tenant_id=principal.tenant_id,
                seq=head.seq + offset,
                entity_id=draft.entity_id,
                version=draft.version,
                entity_type=draft.entity_type,
                status=draft.status,
                data=draft.data,
                created_at=created_at,
                created_by=principal.subject,
                reason=draft.reason,
                supersedes=draft.supersedes,
            )
            for offset, draft in enumerate(drafts, start=1)
        ]
        return seal_records(fields, previous_chain_hash=head.chain_hash, signer=self._signer)

    def _ensure_key_registered(self) -> None:
        # Records reference signing_keys by key id; publish ours once per process.
        if self._key_registered:
            return
        with self._key_lock:
            if not self._key_registered:
                self._repository.register_key(self._signer.public_key, self._clock())
                self._key_registered = True

    # --- rules -----------------------------------------------------------------------

    def _new_entity_draft(self, path: str, item: CreateEntity) -> _Draft:
        data = dict(item.data)
        return _Draft(
            path=f"{path}.data",
            entity_id=self._new_id(),
            version=1,
            entity_type=item.entity_type,
            status=entities.initial_status(item.entity_type),
            data=data,
            name_key=entities.name_key(data["name"]),
            reason=None,
            supersedes=None,
            references=tuple(entities.references(item.entity_type, data, path=f"{path}.data")),
        )

    def _successor_draft(
        self,
        principal: Principal,
        current: VersionRecord | None,
        change: Supersede,
    ) -> _Draft:
        """The next version of ``current``, which the guard has verified (or None)."""
        entity_id = change.entity_id
        if current is None:
            raise NotFoundError(f"no entity {entity_id}")
        if current.version != change.expected_version:
            raise VersionConflictError(
                f"expected version {change.expected_version} but the current version is "
                f"{current.version}",
                current_version=current.version,
            )
        if entities.is_terminal(current.status):
            raise TransitionError(
                f"{current.entity_type} {entity_id} is {current.status}; it cannot change",
                path="$.status",
            )
        status = change.status if change.status is not None else current.status
        entities.check_transition(current.entity_type, current.status, status)
        if entities.transition_needs_admin(current.entity_type, current.status, status):
            principal.require(SCOPE_ADMIN)
        if change.data is not None:
            data = entities.validate_data(current.entity_type, change.data, path="$.data")
            refs = tuple(entities.references(current.entity_type, data))
        else:
            # The guard parsed ``current`` from its verified bytes, never from the jsonb.
            data = dict(current.data)
            refs = ()
        return _Draft(
            path="$.data",
            entity_id=entity_id,
            version=current.version + 1,
            entity_type=current.entity_type,
            status=status,
            data=data,
            name_key=entities.name_key(data["name"]),
            reason=change.reason,
            supersedes=current.version,
            references=refs if status != "retired" else (),
        )

    @staticmethod
    def _check_batch_names(drafts: Sequence[_Draft]) -> None:
        """Names must differ within one request; the database guard checks the rest."""
        seen: dict[tuple[str, str], str] = {}
        for draft in drafts:
            if draft.status == "retired":
                continue
            key = (draft.entity_type, draft.name_key)
            if key in seen:
                raise ConflictError(
                    f"two {draft.entity_type} entities in this request share a name",
                    path=f"{draft.path}.name",
                    first=f"{seen[key]}.name",
                )
            seen[key] = draft.path

    @staticmethod
    def _raise_name_conflict(tx: TenantTransaction, drafts: Sequence[_Draft]) -> None:
        """The insert guard skipped a row: find which name was taken, for the error."""
        for draft in drafts:
            exclude = draft.entity_id if draft.version > 1 else None
            if tx.name_conflicts(draft.entity_type, [draft.name_key], exclude):
                raise ConflictError(
                    f"a {draft.entity_type} with this name already exists in this tenant",
                    path=f"{draft.path}.name",
                )
        raise ConflictError("a name in this request is already taken in this tenant")

    @staticmethod
    def _check_references(current: Mapping[str, VersionRecord], drafts: Sequence[_Draft]) -> None:
        """Every reference resolves to a live entity, as its verified record says."""
        for draft in drafts:
            for ref in draft.references:
                state = current.get(ref.entity_id)
                if state is None or state.entity_type != ref.expected_type:
                    raise ValidationError(
                        f"{ref.path} must name an existing {ref.expected_type} in this tenant",
                        path=ref.path,
                        entity_id=ref.entity_id,
                    )
                if state.status == "retired":
                    raise ValidationError(
                        f"{ref.expected_type} {ref.entity_id} is retired", path=ref.path
                    )
                if ref.must_be_certified and state.status != "certified":
                    raise ValidationError(
                        f"{ref.expected_type} {ref.entity_id} is {state.status}, not certified",
                        path=ref.path,
                    )


def _referenced(drafts: Sequence[_Draft]) -> list[str]:
    return sorted({ref.entity_id for draft in drafts for ref in draft.references})
