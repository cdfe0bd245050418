"""What the HTTP layer may ask of a registry: the ``RegistryAPI`` protocol.

``shared.service.Registry`` is the implementation; the HTTP tests' in-memory fake
(tests/functions/registry_fake.py) is the other. Both take the same typed commands and
queries (shared/core/commands.py, shared/core/queries.py) and return the same page and
write types, so mypy checks the fake against the real interface. Evidence reports are
known to the HTTP layer only as JSON documents (``Document``).

Example::

    def get_entity(registry: RegistryAPI, principal: Principal, entity_id: str) -> dict:
        return registry.get(principal, queries.get_entity(entity_id)).to_dict()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from shared.core.audit import AuditMode
from shared.core.checkpoints import Checkpoint
from shared.core.commands import CreateBatch, CreateEntity, IdempotencyKey, Supersede
from shared.core.principal import Principal
from shared.core.queries import EntityHistory, EntityPage, GetEntity, ListEntities, ReadLog
from shared.core.records import VersionRecord
from shared.ledger import WriteResult
from shared.limits import Limits
from shared.tilelog import LogResource

__all__ = ["Document", "EntityPage", "LogPage", "RegistryAPI", "WriteResult"]


@dataclasses.dataclass(frozen=True)
class LogPage:
    items: list[VersionRecord]
    next_from_seq: int | None


class Document(Protocol):
    """A result the HTTP layer serves as JSON as it is."""

    def to_dict(self) -> dict[str, Any]: ...


class RegistryAPI(Protocol):
    """One method per operation; each checks the caller's scope for what it is asked."""

    # The per-tenant request budget and bulkheads, which the HTTP layer admits against.
    limits: Limits

    def create(
        self,
        principal: Principal,
        command: CreateEntity | CreateBatch,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult: ...

    def supersede(
        self,
        principal: Principal,
        command: Supersede,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult: ...

    def get(self, principal: Principal, query: GetEntity) -> VersionRecord: ...

    def history(self, principal: Principal, query: EntityHistory) -> list[VersionRecord]: ...

    def list_entities(self, principal: Principal, query: ListEntities) -> EntityPage: ...

    def log(self, principal: Principal, query: ReadLog) -> LogPage: ...

    def latest_checkpoint(self, principal: Principal) -> Checkpoint: ...

    def sign_checkpoint(self, principal: Principal) -> Checkpoint: ...

    def verify(self, principal: Principal, query: GetEntity) -> Document: ...

    def consistency(self, principal: Principal, first: int, second: int) -> Document: ...

    def audit(self, principal: Principal, mode: AuditMode = AuditMode.ROOTS) -> Document: ...

    def log_resource(self, principal: Principal, path: str) -> LogResource: ...

    def log_checkpoint(self, principal: Principal) -> bytes: ...

    def expire_idempotency(self) -> dict[str, int]: ...

    def checkpoint_sweep(self) -> dict[str, int]: ...

    def public_keys(self) -> Sequence[Document]: ...

    def log_key(self, tenant_id: str | None = None) -> dict[str, str] | None: ...

    def health(self) -> dict[str, Any]: ...
