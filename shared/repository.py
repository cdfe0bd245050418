"""The repository: the only module that runs SQL.

Every transaction sets the tenant with ``set_config('app.tenant_id', ..., true)`` inside
itself, so row-level security applies and nothing leaks to the next user of a pooled
connection; the same first statement sets the transaction's lock, statement and
idle-in-transaction timeouts (``Timeouts``). Appends start with ``registry.begin_append``,
which sets the tenant and the timeouts, takes the tenant's advisory lock and returns the
log head in one round trip.

Every driver, pool and network failure leaves this module as a ``RegistryError``
(``shared.repository_errors``): a lost connection, a timed-out wait or a cancelled
statement is a ``StorageError`` (503 with Retry-After), and a connection lost while
COMMIT was in flight is a ``CommitOutcomeUnknownError``, because the write may have been
recorded (retrying with the same Idempotency-Key is safe; see docs/faults.md).

Example::

    repo = Repository(engine)
    with repo.append_transaction("acme") as (tx, head):
        tx.insert_records([record], ["python"])
    with repo.tenant_transaction("acme") as tx:
        tx.current(entity_id)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared import repository_sql as sql
from shared.core.checkpoints import Checkpoint
from shared.core.errors import (
    StorageError,
)
from shared.core.hashing import GENESIS_CHAIN_HASH, HASH_SIZE
from shared.core.records import CONTENT_FIELDS, SEAL_FIELDS, RecordContent, Seal, VersionRecord
from shared.core.signing import PublicKey
from shared.limits import Limits, Timeouts
from shared.repository_errors import translate_errors
from shared.repository_session import Pending, Result, Row, Session


@dataclasses.dataclass(frozen=True)
class LogHead:
    """The newest record of a tenant's log (seq 0 and the genesis hash when empty)."""

    seq: int
    chain_hash: bytes
    # Tree size of the tenant's latest checkpoint (0 for none), read under the same lock.
    checkpoint_size: int = 0


@dataclasses.dataclass(frozen=True)
class TenantBacklog:
    """One tenant's checkpoint work: unsigned records and unpublished checkpoints."""

    tenant_id: str
    head_seq: int
    checkpoint_size: int
    # When the oldest record after the newest checkpoint was written (None: none).
    first_unsigned_at: datetime | None
    unpublished: int
    oldest_unpublished_at: datetime | None


@dataclasses.dataclass(frozen=True)
class Leaves:
    """Stored leaf and chain hashes in seq order, and the first seq missing among them."""

    leaf_hashes: list[bytes]
    chain_hashes: list[bytes]
    first_missing_seq: int | None = None


def _split_digests(blob: bytes | None, count: int) -> list[bytes]:
    data = bytes(blob or b"")
    if len(data) != HASH_SIZE * count:
        # Only reachable if someone dropped the size CHECK constraints and edited rows.
        raise StorageError("stored digests are not 32 bytes each", found=len(data), count=count)
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


@dataclasses.dataclass(frozen=True)
class WriteContext:
    """The stored rows a write builds on, as read (unverified): see ``write_context``."""

    head: VersionRecord | None
    # The stored chain hash at head.seq - 1; None when that row is missing.
    previous_chain_hash: bytes | None
    current: dict[str, VersionRecord]


@dataclasses.dataclass(frozen=True)
class StoredResponse:
    request_hash: bytes
    body: bytes


def _record(row: Any) -> VersionRecord:
    """A stored row as a record, column for column (columns are named like the fields).

    This is what the row claims; readers verify it before they trust any of it.
    """
    m = row._mapping
    content = RecordContent(**{name: m[name] for name in CONTENT_FIELDS})
    seal = Seal(**{name: _bytes_or_text(m[name]) for name in SEAL_FIELDS})
    return VersionRecord.of(content, seal)


def _bytes_or_text(value: Any) -> Any:
    # pg8000 returns bytea as bytes already; memoryview from other drivers becomes bytes.
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def _checkpoint(row: Any) -> Checkpoint:
    m = row._mapping
    # A row holds a signed note or, signed before notes (migration 0008), a signature.
    note = m["note"]
    return Checkpoint(
        tenant_id=m["tenant_id"],
        tree_size=m["tree_size"],
        root_hash=bytes(m["root_hash"]),
        chain_head=bytes(m["chain_head"]),
        created_at=m["created_at"],
        key_id=m["key_id"],
        signature=bytes(m["signature"]) if note is None else b"",
        note=bytes(note) if note is not None else None,
    )


def _without_data(wire: dict[str, Any]) -> dict[str, Any]:
    wire.pop("data", None)
    return wire


class TenantTransaction:
    """Statements run inside one transaction scoped to one tenant."""

    def __init__(self, conn: Session, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self._prefetched_responses: dict[str, Pending] = {}
        self._prefetched_context: tuple[tuple[str, ...], Pending] | None = None

    def _params(self, **values: Any) -> dict[str, Any]:
        return {"tenant": self.tenant_id, **values}

    # --- reads -----------------------------------------------------------------------

    def version(self, entity_id: str, version: int) -> VersionRecord | None:
        row = self.conn.execute(
            sql.GET_VERSION, self._params(entity_id=entity_id, version=version)
        ).first()
        return _record(row) if row else None

    def current(self, entity_id: str) -> VersionRecord | None:
        row = self.conn.execute(sql.GET_CURRENT, self._params(entity_id=entity_id)).first()
        return _record(row) if row else None

    def current_as_of(self, entity_id: str, as_of_seq: int) -> VersionRecord | None:
        row = self.conn.execute(
            sql.GET_AS_OF, self._params(entity_id=entity_id, as_of_seq=as_of_seq)
        ).first()
        return _record(row) if row else None

    def first_created_after(self, moment: datetime) -> VersionRecord | None:
        row = self.conn.execute(sql.FIRST_CREATED_AFTER, self._params(moment=moment)).first()
        return _record(row) if row else None

    def history(self, entity_id: str) -> list[VersionRecord]:
        rows = self.conn.execute(sql.HISTORY, self._params(entity_id=entity_id))
        return [_record(row) for row in rows]

    def list_current(
        self,
        *,
        entity_type: str | None,
        status: str | None,
        after_entity_id: str | None,
        limit: int,
        as_of_seq: int | None = None,
    ) -> list[VersionRecord]:
        # Entity ids are time-ordered (UUIDv7), so keyset order is creation order. Each
        # combination of filters is its own statement text, so each keeps its own plan.
        current = sql.IS_CURRENT if as_of_seq is None else sql.WAS_CURRENT
        conditions = ["v.tenant_id = :tenant", current]
        if entity_type is not None:
            conditions.append("v.entity_type = :entity_type")
        if status is not None:
            conditions.append("v.status = :status")
        if after_entity_id is not None:
            conditions.append("v.entity_id > CAST(:after AS uuid)")
        statement = (
            f"SELECT {sql.RECORD_COLUMNS} FROM registry.entity_versions AS v "
            f"WHERE {' AND '.join(conditions)} ORDER BY v.entity_id LIMIT :limit"
        )
        params = self._params(
            entity_type=entity_type,
            status=status,
            after=after_entity_id,
            limit=limit,
            as_of_seq=as_of_seq,
        )
        return [_record(row) for row in self.conn.execute(statement, params)]

    def log_range(self, from_seq: int, limit: int) -> list[VersionRecord]:
        rows = self.conn.execute(sql.LOG_RANGE, self._params(from_seq=from_seq, limit=limit))
        return [_record(row) for row in rows]

    def log_page(self, from_seq: int, limit: int, max_bytes: int) -> list[VersionRecord]:
        """Records from ``from_seq`` on, at most ``limit``, stopping at the first whose
        canonical bytes reach ``max_bytes`` in total (that one included)."""
        rows = self.conn.execute(
            sql.LOG_PAGE, self._params(from_seq=from_seq, limit=limit, max_bytes=max_bytes)
        )
        return [_record(row) for row in rows]

    def iter_log(self, batch_size: int = 1000) -> Iterator[VersionRecord]:
        """Every record in seq order, fetched in keyset batches (bounded memory)."""
        next_seq = 1
        while True:
            batch = self.log_range(next_seq, batch_size)
            yield from batch
            if len(batch) < batch_size:
                return
            next_seq = batch[-1].seq + 1

    def head(self) -> LogHead:
        row = self.conn.execute(sql.HEAD, self._params()).first()
        return LogHead(row[0], bytes(row[1])) if row else LogHead(0, GENESIS_CHAIN_HASH)

    def chain_hash_at(self, seq: int) -> bytes | None:
        """The stored chain hash at ``seq``; the genesis hash for seq 0."""
        if seq == 0:
            return GENESIS_CHAIN_HASH
        row = self.conn.execute(sql.CHAIN_AT, self._params(seq=seq)).first()
        return bytes(row[0]) if row else None

    def leaves(self, upto: int, *, after: int = 0) -> Leaves:
        """Leaf and chain hashes of the records with after < seq <= upto, in seq order."""
        count, last, leaf_blob, chain_blob = self.conn.execute(
            sql.LEAVES, self._params(upto=upto, after=after)
        ).one()
        first_missing = None
        # Seqs are unique, so count == last - after means exactly after+1 .. last.
        if count != last - after:
            first_missing = self.conn.scalar(
                sql.FIRST_MISSING_SEQ, self._params(upto=last, after=after)
            )
        return Leaves(
            _split_digests(leaf_blob, count), _split_digests(chain_blob, count), first_missing
        )

    def frontier_at(self, tree_size: int) -> bytes | None:
        row = self.conn.execute(sql.FRONTIER_AT, self._params(size=tree_size)).first()
        return bytes(row[0]) if row else None

    def current_records(self, entity_ids: Sequence[str]) -> dict[str, VersionRecord]:
        """The current version of each entity that exists, by entity id, as stored."""
        if not entity_ids:
            return {}
        rows = self.conn.execute(sql.CURRENT_RECORDS, self._params(ids=list(entity_ids)))
        return {record.entity_id: record for record in map(_record, rows)}

    def prefetch_write_context(self, entity_ids: Sequence[str]) -> None:
        """Queue ``write_context`` to travel with begin_append (see sql.WRITE_CONTEXT_AT_HEAD)."""
        ids = tuple(entity_ids)
        self._prefetched_context = (
            ids,
            self.conn.defer(sql.WRITE_CONTEXT_AT_HEAD, self._params(ids=list(ids))),
        )

    def write_context(self, head_seq: int, entity_ids: Sequence[str]) -> WriteContext:
        """The head record (seq ``head_seq``) and the current version of ``entity_ids``.

        One round trip, or none when append_transaction prefetched it. Run it after the
        append lock, so the head is the one the write will chain onto.
        """
        rows: list[Row] | None = None
        if self._prefetched_context is not None:
            ids, pending = self._prefetched_context
            self._prefetched_context = None
            if ids == tuple(entity_ids):
                rows = pending.result().all()
                found = next((row.seq for row in rows if row.is_head), 0)
                if found != head_seq:
                    rows = None  # not the head the caller chains onto: ask for that one
        if rows is None:
            rows = self.conn.execute(
                sql.WRITE_CONTEXT, self._params(head_seq=head_seq, ids=list(entity_ids))
            ).all()
        head = next((row for row in rows if row.is_head), None)
        current = {r.entity_id: r for r in (_record(row) for row in rows if not row.is_head)}
        return WriteContext(
            head=_record(head) if head is not None else None,
            previous_chain_hash=(
                bytes(head.previous_chain_hash)
                if head is not None and head.previous_chain_hash is not None
                else None
            ),
            current=current,
        )

    def name_conflicts(
        self, entity_type: str, name_keys: Sequence[str], exclude_entity_id: str | None = None
    ) -> set[str]:
        rows = self.conn.execute(
            sql.NAME_CONFLICTS,
            self._params(entity_type=entity_type, keys=list(name_keys), exclude=exclude_entity_id),
        )
        return {row[0] for row in rows}

    def latest_checkpoint(self) -> Checkpoint | None:
        row = self.conn.execute(sql.LATEST_CHECKPOINT, self._params()).first()
        return _checkpoint(row) if row else None

    def checkpoint_at(self, tree_size: int) -> Checkpoint | None:
        row = self.conn.execute(sql.CHECKPOINT_AT, self._params(size=tree_size)).first()
        return _checkpoint(row) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        return [_checkpoint(row) for row in self.conn.execute(sql.ALL_CHECKPOINTS, self._params())]

    def unpublished_checkpoints(self, limit: int) -> list[Checkpoint]:
        """Checkpoints not yet confirmed by the publisher, oldest first."""
        rows = self.conn.execute(sql.UNPUBLISHED, self._params(limit=limit))
        return [_checkpoint(row) for row in rows]

    def mark_published(self, tree_sizes: Sequence[int], published_at: datetime) -> None:
        self.conn.execute(
            sql.MARK_PUBLISHED,
            self._params(sizes=list(tree_sizes), published_at=published_at),
        )

    def lock_checkpoints(self, *, wait: bool) -> bool:
        """Take the tenant's checkpoint-signer lock until the transaction ends.

        ``wait`` False returns False at once when another transaction holds it; True
        waits (bounded by lock_timeout) and returns True.
        """
        if not wait:
            return bool(self.conn.scalar(sql.TRY_LOCK_CHECKPOINT, self._params()))
        self.conn.execute(sql.LOCK_CHECKPOINT, self._params())
        return True

    def prefetch_response(self, key: str) -> None:
        """Queue ``find_response(key)`` to travel with the transaction's first statement."""
        self._prefetched_responses[key] = self.conn.defer(
            sql.FIND_IDEMPOTENT, self._params(key=key)
        )

    def find_response(self, key: str) -> StoredResponse | None:
        pending = self._prefetched_responses.pop(key, None)
        result = (
            pending.result()
            if pending is not None
            else self.conn.execute(sql.FIND_IDEMPOTENT, self._params(key=key))
        )
        row = result.first()
        return StoredResponse(bytes(row[0]), bytes(row[1])) if row else None

    # --- writes ----------------------------------------------------------------------

    def insert_records(self, records: Sequence[VersionRecord], name_keys: Sequence[str]) -> int:
        """Append sealed records in one statement; return how many were inserted.

        A record whose live name is already taken in its tenant and type is skipped (the
        guard in registry.append_versions), so a count short of ``len(records)`` means a name
        conflict and the caller must roll back.
        """
        first = records[0]
        # The wire form of a record is exactly what append_versions decodes (bytes as
        # base64 or hex); the fields it takes from its own parameters are ignored there.
        # ``data`` stays behind: append_versions derives its jsonb copy from the canonical
        # bytes, so a large batch crosses the wire once, as ASCII (base64 and escapes),
        # never as a four-bytes-per-character string.
        rows = [
            {**_without_data(record.to_dict()), "name_key": name_key}
            for record, name_key in zip(records, name_keys, strict=True)
        ]
        inserted = self.conn.scalar(
            sql.APPEND_VERSIONS,
            {
                "tenant": self.tenant_id,
                "created_at": first.created_at,
                "created_by": first.created_by,
                "key_id": first.key_id,
                "rows": json.dumps(rows, ensure_ascii=True, separators=(",", ":")),
            },
        )
        return int(inserted or 0)

    def insert_checkpoint(self, checkpoint: Checkpoint, frontier: bytes) -> bool:
        """Store a checkpoint and its frontier; False when one of that size exists."""
        result = self.conn.execute(
            sql.INSERT_CHECKPOINT,
            {
                "tenant_id": checkpoint.tenant_id,
                "tree_size": checkpoint.tree_size,
                "root_hash": checkpoint.root_hash,
                "chain_head": checkpoint.chain_head,
                "created_at": checkpoint.created_at,
                "key_id": checkpoint.key_id,
                "signature": checkpoint.signature if checkpoint.note is None else None,
                "note": checkpoint.note,
                "frontier": frontier,
            },
        )
        return bool(result.rowcount)

    def store_response(
        self, key: str, request_hash: bytes, body: bytes, created_at: datetime
    ) -> None:
        # Sent with COMMIT: if it fails, COMMIT answers ROLLBACK and the error is raised.
        self.conn.defer(
            sql.INSERT_IDEMPOTENT,
            self._params(key=key, request_hash=request_hash, body=body, created_at=created_at),
        )


@contextmanager
def _transaction(engine: Engine) -> Iterator[Session]:
    """BEGIN ... COMMIT on a pooled connection, pipelined (shared/repository_session.py).

    An error before COMMIT rolls back: nothing was written. A connection lost while
    COMMIT was in flight leaves the outcome unknown (``CommitOutcomeUnknownError``).
    """
    with translate_errors(), Session.begin(engine) as session:
        yield session
        session.commit()


class Repository:
    """Opens tenant-scoped transactions on one engine, within the process's limits."""

    def __init__(self, engine: Engine, limits: Limits | None = None) -> None:
        self.engine = engine
        self.limits = limits or Limits.unbounded()

    def _timeout_params(self) -> dict[str, str]:
        timeouts = self.limits.timeouts
        return {
            "lock_timeout": f"{timeouts.lock_ms}ms",
            "statement_timeout": f"{timeouts.statement_ms}ms",
            "idle_timeout": f"{timeouts.idle_in_transaction_ms}ms",
        }

    @contextmanager
    def tenant_transaction(self, tenant_id: str) -> Iterator[TenantTransaction]:
        """A transaction under the tenant's RLS setting, for reads and checkpoint inserts."""
        with _transaction(self.engine) as session:
            # Sent with the transaction's first statement: no round trip of its own.
            session.defer(sql.BEGIN_TENANT, {"tenant": tenant_id, **self._timeout_params()})
            yield TenantTransaction(session, tenant_id)

    @contextmanager
    def append_transaction(
        self,
        tenant_id: str,
        *,
        idempotency_key: str | None = None,
        context_ids: Sequence[str] | None = None,
    ) -> Iterator[tuple[TenantTransaction, LogHead]]:
        """A transaction holding the tenant's append lock, with the log head read after it.

        Admitted through the per-tenant writer bulkhead first (429 when the tenant has
        too many appends in flight here), and the lock wait is bounded by lock_timeout.
        BEGIN, the lock and head, the lookup of ``idempotency_key`` (for
        ``tx.find_response``) and the write context of ``context_ids`` (for
        ``tx.write_context``), both read after the lock, travel in one round trip.
        """
        with self.limits.writer(tenant_id), _transaction(self.engine) as session:
            head = self._begin_append(session, tenant_id)
            tx = TenantTransaction(session, tenant_id)
            if idempotency_key is not None:
                tx.prefetch_response(idempotency_key)
            if context_ids is not None:
                tx.prefetch_write_context(context_ids)
            session.flush()
            yield tx, self._head(head.result())

    def _begin_append(self, conn: Session, tenant_id: str) -> Pending:
        timeouts: Timeouts = self.limits.timeouts
        return conn.defer(
            sql.BEGIN_APPEND,
            {
                "tenant": tenant_id,
                "lock_ms": timeouts.lock_ms,
                "statement_ms": timeouts.statement_ms,
                "idle_ms": timeouts.idle_in_transaction_ms,
            },
        )

    @staticmethod
    def _head(result: Result) -> LogHead:
        seq, chain, checkpoint_size = result.one()
        if seq is None:
            return LogHead(0, GENESIS_CHAIN_HASH, checkpoint_size or 0)
        return LogHead(seq, bytes(chain), checkpoint_size or 0)

    def register_key(self, public_key: PublicKey, created_at: datetime) -> None:
        """Publish a signing key's public half (idempotent; keys are never replaced)."""
        with _transaction(self.engine) as conn:
            conn.execute(
                sql.REGISTER_KEY,
                {
                    "key_id": public_key.key_id,
                    "algorithm": public_key.algorithm,
                    "pem": public_key.pem.decode("ascii"),
                    "created_at": created_at,
                },
            )

    def expire_idempotency_keys(
        self, retention_hours: int, *, chunk: int = 5000, max_chunks: int = 200
    ) -> int:
        """Delete Idempotency-Key rows older than ``retention_hours``, every tenant's,
        oldest first, ``chunk`` rows per short transaction; return how many went."""
        removed = 0
        for _ in range(max_chunks):
            with _transaction(self.engine) as conn:
                _, count = conn.execute(
                    sql.EXPIRE_IDEMPOTENCY,
                    {
                        "lock_timeout": self._timeout_params()["lock_timeout"],
                        "retention_hours": retention_hours,
                        "chunk": chunk,
                    },
                ).one()
            removed += int(count)
            if count < chunk:
                break
        return removed

    def checkpoint_backlog(self, *, page: int = 1000) -> Iterator[TenantBacklog]:
        """Every tenant with unsigned records or unpublished checkpoints (migration 0007:
        tenant ids, counts and times only), by tenant id, ``page`` per transaction."""
        after = ""
        while True:
            with _transaction(self.engine) as conn:
                rows = conn.execute(sql.BACKLOG, {"after": after, "limit": page}).all()
            yield from (TenantBacklog(*row) for row in rows)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def schema_revision(self) -> str | None:
        with _transaction(self.engine) as conn:
            try:
                revision = conn.scalar(sql.REVISION)
            except sa_exc.ProgrammingError:
                return None
            return str(revision) if revision is not None else None
