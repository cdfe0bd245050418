"""An in-memory Registry with the real service's interface, for HTTP-layer tests.

It keeps the behaviours the HTTP layer must translate faithfully — tenant isolation,
optimistic concurrency, idempotent replay, admin-only status changes, cursor checks —
without a database, so routing, auth and input tests run in milliseconds. Behaviour
that needs the real ledger is tested against the real Registry (marked integration).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core import entities
from shared.core.asof import AsOf
from shared.core.audit import AuditMode
from shared.core.checkpoints import Checkpoint
from shared.core.commands import (
    CreateBatch,
    CreateEntity,
    IdempotencyKey,
    Supersede,
    request_hash,
)
from shared.core.errors import (
    IdempotencyKeyReuseError,
    InputError,
    NotFoundError,
    StorageError,
    VersionConflictError,
)
from shared.core.hashing import GENESIS_CHAIN_HASH
from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, Principal
from shared.core.queries import (
    EntityHistory,
    GetEntity,
    ListEntities,
    ReadLog,
    cursor_after,
)
from shared.core.records import RecordContent, VersionRecord, seal_record
from shared.core.signing import LocalSigner
from shared.limits import Limits
from shared.registry_api import EntityPage, LogPage, WriteResult
from shared.tilelog import LogResource

ZERO = bytes(32)
_SIGNER = LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.generate())


def _in_point(record: VersionRecord, as_of: AsOf) -> bool:
    if as_of.seq is not None and record.seq > as_of.seq:
        return False
    return as_of.moment is None or record.created_at <= as_of.moment


@dataclasses.dataclass(frozen=True)
class Report:
    body: dict[str, Any]
    valid: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.body)


@dataclasses.dataclass(frozen=True)
class FakeKey:
    def to_dict(self) -> dict[str, Any]:
        return {"key_id": "fake", "algorithm": "ed25519", "pem": "-----BEGIN PUBLIC KEY-----"}


class FakeRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: dict[str, list[VersionRecord]] = {}
        self._idempotency: dict[tuple[str, str], tuple[bytes, WriteResult]] = {}
        self.calls: list[str] = []
        self.fail_with: Exception | None = None
        # A warning to log through the real service's logger during each write.
        self.log_on_write: str | None = None
        # The real limits object: HTTP tests swap in a tight one to see 429s.
        self.limits = Limits.unbounded()

    # --- helpers ---------------------------------------------------------------------

    def _record(
        self,
        p: Principal,
        entity_id: str,
        version: int,
        entity_type: str,
        status: str,
        data: Any,
        reason: str | None,
    ) -> VersionRecord:
        log = self._log.setdefault(p.tenant_id, [])
        content = RecordContent(
            tenant_id=p.tenant_id,
            seq=len(log) + 1,
            entity_id=entity_id,
            version=version,
            entity_type=entity_type,
            status=status,
            data=data,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            created_by=p.subject,
            reason=reason,
            supersedes=version - 1 if version > 1 else None,
        )
        # The real record model and sealing, so responses have the real shape and bytes.
        previous = log[-1].chain_hash if log else GENESIS_CHAIN_HASH
        return seal_record(content, previous_chain_hash=previous, signer=_SIGNER)

    def _versions(self, p: Principal, entity_id: str) -> list[VersionRecord]:
        found = [r for r in self._log.get(p.tenant_id, []) if r.entity_id == entity_id]
        if not found:
            raise NotFoundError(f"no entity {entity_id}", entity_id=entity_id)
        return found

    def _idempotent(
        self, p: Principal, key: str | None, fingerprint: bytes, write: Any
    ) -> WriteResult:
        if self.fail_with is not None:
            raise self.fail_with
        if self.log_on_write is not None:
            logging.getLogger("shared.service").warning(self.log_on_write)
        with self._lock:
            if key is not None and (p.tenant_id, key) in self._idempotency:
                stored_fingerprint, result = self._idempotency[(p.tenant_id, key)]
                if stored_fingerprint != fingerprint:
                    raise IdempotencyKeyReuseError("key reused with a different body")
                return dataclasses.replace(result, replayed=True)
            result = WriteResult(tuple(write()), replayed=False)
            if key is not None:
                self._idempotency[(p.tenant_id, key)] = (fingerprint, result)
            return result

    # --- the Registry interface ---------------------------------------------------------

    def create(
        self,
        principal: Principal,
        command: CreateEntity | CreateBatch,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult:
        self.calls.append("create" if isinstance(command, CreateEntity) else "create_batch")
        principal.require(command.scope)

        def write() -> list[VersionRecord]:
            out = []
            for _, item in command.items():
                # Ids of the real form: the supersede parser refuses any other.
                entity_id = f"00000000-0000-7000-8000-{sum(map(len, self._log.values())) + 1:012x}"
                status = entities.initial_status(item.entity_type)
                record = self._record(
                    principal, entity_id, 1, item.entity_type, status, item.data, None
                )
                self._log.setdefault(principal.tenant_id, []).append(record)
                out.append(record)
            return out

        return self._idempotent(principal, idempotency_key, request_hash(command), write)

    def supersede(
        self,
        principal: Principal,
        command: Supersede,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult:
        self.calls.append("supersede")
        principal.require(command.scope)
        if command.status in {"certified", "retired"}:
            principal.require(SCOPE_ADMIN)

        def write() -> list[VersionRecord]:
            current = self._versions(principal, command.entity_id)[-1]
            if command.expected_version != current.version:
                raise VersionConflictError("stale", current_version=current.version)
            record = self._record(
                principal,
                command.entity_id,
                current.version + 1,
                current.entity_type,
                command.status or current.status,
                command.data if command.data is not None else current.data,
                command.reason,
            )
            self._log[principal.tenant_id].append(record)
            return [record]

        return self._idempotent(principal, idempotency_key, request_hash(command), write)

    def get(self, principal: Principal, query: GetEntity) -> VersionRecord:
        self.calls.append("get")
        principal.require(query.scope)
        versions = self._versions(principal, query.entity_id)
        if query.as_of is not None:
            versions = [v for v in versions if _in_point(v, query.as_of)]
            if not versions:
                raise query.not_found()
        if query.version is None:
            return versions[-1]
        if query.version > len(versions):
            raise query.not_found()
        return versions[query.version - 1]

    def history(self, principal: Principal, query: EntityHistory) -> list[VersionRecord]:
        self.calls.append("history")
        principal.require(query.scope)
        return self._versions(principal, query.entity_id)

    def list_entities(self, principal: Principal, query: ListEntities) -> EntityPage:
        self.calls.append("list_entities")
        principal.require(query.scope)
        if query.as_of is not None:
            raise NotImplementedError("point-in-time lists run against the real registry")
        latest: dict[str, VersionRecord] = {}
        for record in self._log.get(principal.tenant_id, []):
            latest[record.entity_id] = record
        items = [
            r
            for r in sorted(latest.values(), key=lambda r: r.entity_id)
            if (query.entity_type is None or r.entity_type == query.entity_type)
            and (query.status is None or r.status == query.status)
            and (query.after is None or r.entity_id > query.after)
        ]
        page = items[: query.limit]
        more = len(items) > query.limit
        return EntityPage(page, cursor_after(page[-1].entity_id, query) if more else None)

    def log(self, principal: Principal, query: ReadLog) -> LogPage:
        self.calls.append("log")
        principal.require(query.scope)
        log = self._log.get(principal.tenant_id, [])
        start = query.from_seq - 1
        records = log[start : start + query.limit]
        more = len(log) > start + query.limit
        return LogPage(records, query.from_seq + query.limit if more else None)

    def checkpoint_sweep(self) -> dict[str, int]:
        self.calls.append("checkpoint_sweep")
        return {"signed": 0, "published": 0, "failed": 0}

    def sign_checkpoint(self, principal: Principal) -> Checkpoint:
        principal.require(SCOPE_ADMIN)
        self.calls.append("sign_checkpoint")
        return self._checkpoint(principal)

    def latest_checkpoint(self, principal: Principal) -> Checkpoint:
        self.calls.append("latest_checkpoint")
        return self._checkpoint(principal)

    def _checkpoint(self, principal: Principal) -> Checkpoint:
        return Checkpoint(
            tenant_id=principal.tenant_id,
            tree_size=len(self._log.get(principal.tenant_id, [])),
            root_hash=ZERO,
            chain_head=ZERO,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            key_id="fake",
            signature=b"sig",
        )

    def verify(self, principal: Principal, query: GetEntity) -> Report:
        self.calls.append("verify")
        record = self.get(principal, query)
        return Report(
            {
                "valid": True,
                "record": record.to_dict(),
                "checks": [{"check": "signature", "ok": True}],
                "inclusion_proof": {
                    "leaf_index": record.seq - 1,
                    "tree_size": record.seq,
                    "hashes": [],
                },
                "checkpoint": self.latest_checkpoint(principal).to_dict(),
            }
        )

    def consistency(self, principal: Principal, first: int, second: int) -> Report:
        self.calls.append("consistency")
        if first > second:
            raise InputError("first must not exceed second", path="query.first")
        return Report({"first": first, "second": second, "hashes": []})

    def public_keys(self) -> list[FakeKey]:
        self.calls.append("public_keys")
        return [FakeKey()]

    def log_key(self, tenant_id: str | None = None) -> dict[str, str] | None:
        # No checkpoint key: the keys answer carries no "log" member.
        return None

    def audit(self, principal: Principal, mode: AuditMode = AuditMode.ROOTS) -> Report:
        self.calls.append(f"audit:{mode}")
        records = len(self._log.get(principal.tenant_id, []))
        return Report(
            {
                "valid": True,
                "mode": str(mode),
                "records_checked": records,
                "checkpoints_checked": 0,
                "signatures_checked": records,
                "first_bad_seq": None,
                "error": None,
            }
        )

    def log_resource(self, principal: Principal, path: str) -> LogResource:
        # The fake keeps no tiles: tile reads are tested against the real registry.
        self.calls.append("log_resource")
        principal.require(SCOPE_READ)
        raise NotFoundError(f"no log resource {path}")

    def log_checkpoint(self, principal: Principal) -> bytes:
        # Nor signed notes: the checkpoint endpoint is tested against the real registry.
        self.calls.append("log_checkpoint")
        principal.require(SCOPE_READ)
        raise NotFoundError("this tenant's log has no signed checkpoint yet")

    def expire_idempotency(self) -> dict[str, int]:
        # Every stored key is past a retention of zero hours.
        self.calls.append("expire_idempotency")
        with self._lock:
            removed = len(self._idempotency)
            self._idempotency.clear()
        return {"removed": removed, "retention_hours": 0}

    def health(self) -> dict[str, object]:
        if self.fail_with is not None:
            raise StorageError("down")
        return {"database": "ok"}
