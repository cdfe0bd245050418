"""The registry's operations: what each Cloud Function calls, one method per request.

``Registry`` composes the ledger (writes), the evidence (checkpoints, proofs, audit) and
the reads below, over one repository, signer and set of trusted keys. Build it once per
process with ``Registry.from_settings``.

Example::

    registry = Registry.from_settings(Settings.from_env(os.environ))
    command = parse_create({"entity_type": "Skill", "data": {"name": "Python", ...}})
    result = registry.create(principal, command)
    report = registry.verify(principal, get_entity(result.records[0].entity_id))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from shared.audit import AuditReport, LogAudit
from shared.checkpointer import Checkpointer
from shared.core.asof import AsOf
from shared.core.audit import AuditMode
from shared.core.checkpoints import Checkpoint, CheckpointSigner
from shared.core.commands import CreateBatch, CreateEntity, IdempotencyKey, Supersede
from shared.core.errors import (
    NotFoundError,
    RegistryError,
    StorageError,
)
from shared.core.principal import SCOPE_ADMIN, Principal
from shared.core.queries import (
    EntityHistory,
    GetEntity,
    ListEntities,
    ReadLog,
    cursor_after,
)
from shared.core.records import VersionRecord
from shared.core.signing import PublicKey, Signer
from shared.db import build_engine
from shared.evidence import ConsistencyReport, Evidence, VerificationReport
from shared.integrity import RecordGuard
from shared.keys import load_checkpoint_signer, load_signer, load_trusted_keys
from shared.ledger import Ledger, WriteResult, new_entity_id, utc_now
from shared.limits import Limits
from shared.publisher import CheckpointPublisher, NullPublisher, build_publisher
from shared.registry_api import EntityPage, LogPage
from shared.repository import Repository, TenantTransaction
from shared.schema import SCHEMA_REVISION
from shared.settings import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_MAX_AGE,
    DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
    DEFAULT_MAX_LOG_PAGE_BYTES,
    Settings,
)
from shared.tilelog import LogResource, LogResources

__all__ = [
    "AuditReport",
    "ConsistencyReport",
    "EntityPage",
    "LogPage",
    "Registry",
    "VerificationReport",
    "WriteResult",
]

_log = logging.getLogger(__name__)


class Registry:
    """Create, query, supersede and verify governed entities for authenticated principals."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        trusted_keys: Mapping[str, PublicKey],
        publisher: CheckpointPublisher | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_entity_id,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_max_age: int = DEFAULT_CHECKPOINT_MAX_AGE,
        limits: Limits | None = None,
        max_log_page_bytes: int = DEFAULT_MAX_LOG_PAGE_BYTES,
        idempotency_retention_hours: int = DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
        checkpoint_key: CheckpointSigner | None = None,
    ) -> None:
        self.max_log_page_bytes = max_log_page_bytes
        self.idempotency_retention_hours = idempotency_retention_hours
        self.engine = engine
        self.checkpoint_every = checkpoint_every
        # Without explicit limits (tests, tools) only the database timeouts apply; the
        # deployed functions get the bulkheads and rate limits from their settings.
        self.limits = limits or Limits.unbounded()
        self.repository = Repository(engine, self.limits)
        self.signer = signer
        # Checkpoints are signed notes by the log's own key (docs/adr/0010). Without one
        # (tests of the pre-note format) they are the JSON statements of the record key.
        self.checkpoint_key = checkpoint_key
        checkpoint_signer: Signer = checkpoint_key or signer
        # The two kinds of key never stand in for each other: records (and pre-note JSON
        # checkpoints) verify only with the record keys, signed-note checkpoints only with
        # the checkpoint key, so whoever holds one key cannot forge the other's evidence.
        self.trusted_keys = dict(trusted_keys)
        self.checkpoint_keys: dict[str, PublicKey] | None = (
            None if checkpoint_key is None else {checkpoint_key.key_id: checkpoint_key.public_key}
        )
        self.guard = RecordGuard(self.trusted_keys)
        self.ledger = Ledger(self.repository, signer, self.guard, clock=clock, new_id=new_id)
        separate = {"checkpoint_keys": self.checkpoint_keys}
        self.log_resources = LogResources(self.repository, self.trusted_keys, **separate)
        self.evidence = Evidence(self.repository, self.trusted_keys, **separate)
        self.checkpointer = Checkpointer(
            self.repository,
            checkpoint_signer,
            self.guard,
            self.trusted_keys,
            publisher or NullPublisher(),
            clock=clock,
            every=checkpoint_every,
            **separate,
        )
        self.log_audit = LogAudit(self.repository, self.trusted_keys, **separate)
        self.checkpoint_max_age = checkpoint_max_age
        self._clock = clock
        # Per tenant, in this process: (newest checkpoint size, when the first record
        # after it was written), learnt from this process's own writes, so a write can
        # tell that unsigned records grew old without asking the database.
        self._first_unsigned: dict[str, tuple[int, datetime]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        signer = load_signer(settings)
        return cls(
            build_engine(settings),
            signer,
            load_trusted_keys(settings, signer),
            build_publisher(settings),
            checkpoint_every=settings.checkpoint_every,
            checkpoint_max_age=settings.checkpoint_max_age,
            limits=Limits.from_settings(settings),
            max_log_page_bytes=settings.max_log_page_bytes,
            idempotency_retention_hours=settings.idempotency_retention_hours,
            checkpoint_key=load_checkpoint_signer(settings),
        )

    # --- writes ----------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        command: CreateEntity | CreateBatch,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult:
        """Create one entity or a batch, all or nothing."""
        result = self.ledger.create(principal, command, idempotency_key=idempotency_key)
        return self._checkpoint_if_due(principal.tenant_id, result)

    def supersede(
        self,
        principal: Principal,
        command: Supersede,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> WriteResult:
        """Append a new version of an entity (a data change, a status change, or both)."""
        result = self.ledger.supersede(principal, command, idempotency_key=idempotency_key)
        return self._checkpoint_if_due(principal.tenant_id, result)

    def _checkpoint_if_due(self, tenant_id: str, result: WriteResult) -> WriteResult:
        """Sign a checkpoint once ``checkpoint_every`` records follow the last one, or
        once the oldest of them is ``checkpoint_max_age`` seconds old.

        Checkpoints published outside the database are what expose a dropped tail of the
        log, so they must not wait for someone to ask for a proof. Signing happens after
        the write has committed, through the one signing path (``Checkpointer``); if it
        fails, the write still stands and the next write, ``POST /verify/checkpoint`` or
        the sweep tries again. A tenant whose last publication failed here retries it.
        """
        if result.replayed or not self.checkpoint_every:
            return result
        unsigned = result.records[-1].seq - result.checkpoint_size
        old = self._unsigned_too_old(tenant_id, result)
        try:
            if unsigned >= self.checkpoint_every or old:
                self.checkpointer.sign_if_due(tenant_id, force=old)
            elif tenant_id in self.checkpointer.pending:
                self.checkpointer.publish_pending(tenant_id)
        except RegistryError as exc:
            log = _log.error if exc.kind.startswith(("integrity", "log-")) else _log.warning
            log("checkpoint after a write failed: %s (%s)", exc.detail, exc.kind)
        return result

    def _unsigned_too_old(self, tenant_id: str, result: WriteResult) -> bool:
        size = result.checkpoint_size
        first = result.records[0]
        if first.seq == size + 1:
            self._first_unsigned[tenant_id] = (size, first.created_at)
            return False
        known = self._first_unsigned.get(tenant_id)
        if known is None or known[0] != size:
            return False
        age = (self._clock() - known[1]).total_seconds()
        return age >= self.checkpoint_max_age

    def checkpoint_sweep(self) -> dict[str, int]:
        """Sign and publish what is due in every tenant: the scheduled job's work.

        A tenant is due when ``checkpoint_every`` records are unsigned, when its oldest
        unsigned record is ``checkpoint_max_age`` seconds old, or when checkpoints wait
        in its outbox. One tenant's refusal (logged) does not stop the others.
        """
        now = self._clock()
        signed = published = failed = 0
        for tenant in self.repository.checkpoint_backlog():
            unsigned = tenant.head_seq - tenant.checkpoint_size
            aged = tenant.first_unsigned_at is not None and (
                (now - tenant.first_unsigned_at).total_seconds() >= self.checkpoint_max_age
            )
            counted = bool(self.checkpoint_every) and unsigned >= self.checkpoint_every
            try:
                if unsigned > 0 and (aged or counted):
                    self.checkpointer.sign(tenant.tenant_id)
                    signed += 1
                elif tenant.unpublished:
                    published += self.checkpointer.publish_pending(tenant.tenant_id)
            except RegistryError as exc:
                failed += 1
                log = _log.error if exc.kind.startswith(("integrity", "log-")) else _log.warning
                log(
                    "scheduled checkpoint of tenant %s failed: %s (%s)",
                    tenant.tenant_id,
                    exc.detail,
                    exc.kind,
                )
        return {"signed": signed, "published": published, "failed": failed}

    # --- reads -----------------------------------------------------------------------

    def get(self, principal: Principal, query: GetEntity) -> VersionRecord:
        principal.require(query.scope)
        as_of_seq: int | None = None
        with self.repository.tenant_transaction(principal.tenant_id) as tx:
            if query.as_of is not None:
                as_of_seq = self._as_of_seq(tx, query.as_of)
            if query.version is not None:
                record = tx.version(query.entity_id, query.version)
            elif as_of_seq is not None:
                record = tx.current_as_of(query.entity_id, as_of_seq) if as_of_seq else None
            else:
                record = tx.current(query.entity_id)
        if record is None:
            raise query.not_found()
        verified = self.guard.record(record, use="a read")
        # One version as of a point: only if it had been written by then.
        if as_of_seq is not None and verified.seq > as_of_seq:
            raise query.not_found()
        return verified

    def _as_of_seq(self, tx: TenantTransaction, as_of: AsOf) -> int:
        """The seq ``as_of`` names in this tenant's log (0: before the first record).

        A seq beyond the log's head is a point the log has not reached: 404. A moment
        ends the prefix at the first record created after it; that record and the one
        before are verified, so the bound rests on signed created_at values, not on a
        column a DBA can edit. Given both, the earlier point.
        """
        head = tx.head().seq
        if as_of.seq is not None and as_of.seq > head:
            raise NotFoundError(
                f"as_of_seq {as_of.seq} is beyond the log, which has {head} records"
            )
        if as_of.moment is None:
            assert as_of.seq is not None
            return as_of.seq
        by_moment = self._seq_at_moment(tx, as_of.moment, head)
        return by_moment if as_of.seq is None else min(as_of.seq, by_moment)

    def _seq_at_moment(self, tx: TenantTransaction, moment: datetime, head: int) -> int:
        stored = tx.first_created_after(moment)
        if stored is None:
            boundary = head
        else:
            boundary = self.guard.record(stored, use="a point-in-time bound").seq - 1
        if boundary >= 1:
            rows = tx.log_range(boundary, 1)
            last = rows[0] if rows else None
            if last is None or last.seq != boundary:
                raise self.guard.violation(
                    f"seq {boundary} is missing from the log", check="seq", seq=boundary
                )
            verified = self.guard.record(last, use="a point-in-time bound")
            if verified.created_at > moment:
                raise self.guard.violation(
                    f"record seq {boundary} was created after {moment.isoformat()} but no "
                    "record before the bound says so",
                    check="created_at",
                    seq=boundary,
                )
        return boundary

    def history(self, principal: Principal, query: EntityHistory) -> list[VersionRecord]:
        principal.require(query.scope)
        with self.repository.tenant_transaction(principal.tenant_id) as tx:
            records = tx.history(query.entity_id)
        if not records:
            raise query.not_found()
        return self.guard.history(records)

    def list_entities(self, principal: Principal, query: ListEntities) -> EntityPage:
        principal.require(query.scope)
        with self.repository.tenant_transaction(principal.tenant_id) as tx:
            as_of_seq = self._as_of_seq(tx, query.as_of) if query.as_of is not None else None
            # One extra row tells whether another page exists without a count query.
            rows = tx.list_current(
                entity_type=query.entity_type,
                status=query.status,
                after_entity_id=query.after,
                limit=query.limit + 1,
                as_of_seq=as_of_seq,
            )
        # Served rows are verified, so they also match the filters they were selected by
        # (their status and entity_type columns equal their signed content).
        items = self.guard.records(rows[: query.limit], use="a read")
        more = len(rows) > query.limit
        return EntityPage(items, cursor_after(items[-1].entity_id, query) if more else None)

    def log(self, principal: Principal, query: ReadLog) -> LogPage:
        principal.require(query.scope)
        from_seq, limit = query.from_seq, query.limit
        with self.repository.tenant_transaction(principal.tenant_id) as tx:
            rows = tx.log_page(from_seq, limit + 1, self.max_log_page_bytes)
        page, more = rows[:limit], len(rows) > limit
        total = 0
        for index, row in enumerate(page):
            total += len(row.canonical)
            if total > self.max_log_page_bytes and index > 0:
                # This record would take the page past its byte budget: it opens the next.
                page, more = page[:index], True
                break
        items = self.guard.log_page(page, from_seq)
        return LogPage(items, items[-1].seq + 1 if more else None)

    # --- evidence --------------------------------------------------------------------

    def latest_checkpoint(self, principal: Principal) -> Checkpoint:
        """The newest signed checkpoint (a read: it never signs)."""
        return self.evidence.latest_checkpoint(principal)

    def sign_checkpoint(self, principal: Principal) -> Checkpoint:
        """Admin command: sign a checkpoint over the verified log now, if it grew."""
        principal.require(SCOPE_ADMIN)
        return self.checkpointer.sign(principal.tenant_id)

    def verify(self, principal: Principal, query: GetEntity) -> VerificationReport:
        return self.evidence.verify(principal, query.entity_id, query.version)

    def consistency(self, principal: Principal, first: int, second: int) -> ConsistencyReport:
        return self.evidence.consistency(principal, first, second)

    def audit(self, principal: Principal, mode: AuditMode = AuditMode.ROOTS) -> AuditReport:
        """Re-verify the tenant's whole log (``shared.audit``; modes in docs/performance.md)."""
        principal.require(SCOPE_ADMIN)
        # An audit reads the whole log; a few at once per instance is all the pool can
        # give without starving other tenants' requests.
        with self.limits.audit():
            return self.log_audit.run(principal.tenant_id, mode)

    def log_resource(self, principal: Principal, path: str) -> LogResource:
        """A tile or entry bundle of the tenant's log (C2SP tlog-tiles)."""
        return self.log_resources.read(principal, path)

    def log_checkpoint(self, principal: Principal) -> bytes:
        """The tenant's newest signed checkpoint note (C2SP tlog-tiles ``checkpoint``)."""
        return self.log_resources.checkpoint(principal)

    def expire_idempotency(self) -> dict[str, int]:
        """Remove Idempotency-Key records past their retention (ADR 0009), every tenant's.

        A scheduled job's command (Cloud Scheduler calls it daily), authorised at the edge
        like the checkpoint sweep: a registry admin or the scheduler's own identity. Keys
        are kept at least ``idempotency_retention_hours``; the log itself is never touched.
        """
        removed = self.repository.expire_idempotency_keys(self.idempotency_retention_hours)
        return {"removed": removed, "retention_hours": self.idempotency_retention_hours}

    def public_keys(self) -> list[PublicKey]:
        keys = self.trusted_keys | (self.checkpoint_keys or {})
        return sorted(keys.values(), key=lambda key: key.key_id)

    def log_key(self, tenant_id: str | None = None) -> dict[str, str] | None:
        """The checkpoint key as tlog clients configure it; with a tenant, its log's vkey."""
        key = self.checkpoint_key
        if key is None:
            return None
        described = {"key_id": key.key_id, "origin_prefix": key.log_origin}
        if tenant_id is not None:
            described |= {"origin": key.origin(tenant_id), "vkey": key.vkey(tenant_id)}
        return described

    def health(self) -> dict[str, Any]:
        revision = self.repository.schema_revision()
        if revision != SCHEMA_REVISION:
            raise StorageError(
                f"the database schema is at {revision or 'no revision'}; "
                f"this code needs {SCHEMA_REVISION}: run the migration job",
                found=revision,
                expected=SCHEMA_REVISION,
            )
        return {
            "status": "ok",
            "schema_revision": revision,
            "signing_key_id": self.signer.key_id,
            "checkpoints": self._checkpoint_lag(),
        }

    def _checkpoint_lag(self) -> dict[str, Any]:
        """How far signing and publication lag behind, over every tenant (ADR 0008)."""
        now = self._clock()
        backlog = list(self.repository.checkpoint_backlog())

        def age(times: list[datetime | None]) -> float | None:
            known = [t for t in times if t is not None]
            return round((now - min(known)).total_seconds(), 3) if known else None

        return {
            "publisher": self.checkpointer.publisher_kind,
            "tenants_with_unsigned_records": sum(
                1 for t in backlog if t.head_seq > t.checkpoint_size
            ),
            "oldest_unsigned_record_age_s": age([t.first_unsigned_at for t in backlog]),
            "unpublished_checkpoints": (
                sum(t.unpublished for t in backlog) if self.checkpointer.publishes else None
            ),
            "oldest_unpublished_checkpoint_age_s": (
                age([t.oldest_unpublished_at for t in backlog])
                if self.checkpointer.publishes
                else None
            ),
        }
