"""The guard between stored rows and everything built on them: sign only verified state.

A database administrator can edit any row. So every stored record the service reads in
order to act — to serve it, to base a rule on it, to chain onto it, to replay it — passes
through ``RecordGuard`` first: its columns must equal its canonical bytes, the bytes must
hash to the stored leaf hash, the signature must verify with a trusted key and, for the
head of the log, the chain hash must link to its predecessor's. What the caller gets back
is parsed from those verified bytes. A record that fails is refused with an
``IntegrityViolationError`` naming the seq and the check, logged at ERROR; the request
that needed it does nothing. See docs/adr/0005-sign-only-verified-state.md.

Example::

    guard = RecordGuard(trusted_keys)
    with repository.append_transaction(tenant) as (tx, head):
        context = tx.write_context(head.seq, [entity_id])
        guard.head(context.head, context.previous_chain_hash, use="append")
        current = guard.record(context.current[entity_id], use="supersede")
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from shared.core.canonical import parse_json
from shared.core.errors import InputError, IntegrityViolationError, VerificationError
from shared.core.genuine import columns_agree, genuine_content
from shared.core.hashing import GENESIS_CHAIN_HASH, HASH_SIZE, chain_hash, digests_equal
from shared.core.records import RecordContent, Seal, VersionRecord
from shared.core.signing import PublicKey

_log = logging.getLogger(__name__)


# Seals proven genuine, remembered so that a record read again (a certified skill that
# every new JobRole references, the head the next write chains onto) costs a dictionary
# lookup instead of a signature verification. Bounded; the least recently used go first.
DEFAULT_CACHE_SIZE = 10_000


class RecordGuard:
    """Verifies stored records against the trusted keys before the service uses them.

    A seal's verdict depends only on the seal's bytes and the trusted keys (fixed for the
    guard's lifetime), so a proven seal is remembered with the content it proves; the
    columns beside it are compared with that content on every use. A DBA's edit changes
    the seal (a miss, verified in full) or a column (caught by the comparison).
    """

    def __init__(
        self, trusted_keys: Mapping[str, PublicKey], *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self._trusted_keys = trusted_keys
        self._cache_size = cache_size
        self._proven: OrderedDict[Seal, RecordContent] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, stored: VersionRecord, *, use: str) -> VersionRecord:
        """``stored`` as its verified canonical bytes say it; IntegrityViolationError if not.

        ``use`` says what the record was read for ("a read", "a rule of this write", ...),
        for the log line.
        """
        seal = stored.seal
        try:
            content = self._content(seal, stored.seq)
            columns_agree(stored, content)
        except VerificationError as exc:
            raise self._violation(exc, stored.seq, use) from exc
        return VersionRecord.of(content, seal)

    def log_page(
        self, stored: Sequence[VersionRecord], from_seq: int, *, use: str = "a read"
    ) -> list[VersionRecord]:
        """A page of the log, verified, that starts at ``from_seq`` with no seq missing and
        each record's chain hash linked to the one before: a row a DBA deleted or moved
        inside the page fails closed instead of leaving an unnoticed gap."""
        records = self.records(stored, use=use)
        expected_seq, previous = from_seq, None
        for record in records:
            if record.seq != expected_seq:
                detail, check = f"seq {expected_seq} is missing from the log", "seq"
            elif previous is not None and not digests_equal(
                chain_hash(previous.chain_hash, record.leaf_hash), record.chain_hash
            ):
                detail, check = f"its chain hash does not link to seq {previous.seq}", "chain_hash"
            else:
                expected_seq, previous = record.seq + 1, record
                continue
            raise self._violation(
                VerificationError(f"record seq {record.seq}: {detail}", check=check),
                record.seq,
                use,
            )
        return records

    def history(self, stored: Sequence[VersionRecord]) -> list[VersionRecord]:
        """An entity's versions, verified, numbered 1..n with each superseding the last:
        a version a DBA deleted or moved fails closed instead of leaving a gap."""
        records = self.records(stored, use="a read")
        for number, record in enumerate(records, start=1):
            links = record.supersedes == (number - 1 if number > 1 else None)
            if record.version != number or not links or record.entity_id != records[0].entity_id:
                raise self._violation(
                    VerificationError(
                        f"record seq {record.seq}: version {number} of entity "
                        f"{records[0].entity_id} is missing or out of place",
                        check="version",
                    ),
                    record.seq,
                    "a read",
                )
        return records

    def remember(self, sealed: Iterable[VersionRecord]) -> None:
        """Records this service sealed itself are genuine by construction."""
        for record in sealed:
            self._store(record.seal, record.content)

    def _content(self, seal: Seal, seq: int) -> RecordContent:
        with self._lock:
            content = self._proven.get(seal)
            if content is not None:
                self._proven.move_to_end(seal)
                return content
        content = genuine_content(seal, self._trusted_keys, seq=seq)
        self._store(seal, content)
        return content

    def _store(self, seal: Seal, content: RecordContent) -> None:
        if self._cache_size <= 0:
            return
        with self._lock:
            self._proven[seal] = content
            self._proven.move_to_end(seal)
            while len(self._proven) > self._cache_size:
                self._proven.popitem(last=False)

    def records(self, stored: Iterable[VersionRecord], *, use: str) -> list[VersionRecord]:
        return [self.record(record, use=use) for record in stored]

    def head(
        self, stored: VersionRecord | None, previous_chain_hash: bytes | None, *, use: str
    ) -> None:
        """Raise unless the log's head record is genuine and links to its predecessor.

        ``stored`` is None only for an empty log. ``previous_chain_hash`` is the stored
        chain hash at seq - 1 (None when that row is missing; the genesis hash for seq 1).
        """
        if stored is None:
            return
        self.record(stored, use=use)
        previous = GENESIS_CHAIN_HASH if stored.seq == 1 else previous_chain_hash
        if previous is None or len(previous) != HASH_SIZE:
            detail = f"its predecessor seq {stored.seq - 1} is missing or malformed"
        elif not digests_equal(chain_hash(previous, stored.leaf_hash), stored.chain_hash):
            detail = f"its chain hash does not link to seq {stored.seq - 1}"
        else:
            return
        raise self._violation(
            VerificationError(f"record seq {stored.seq}: {detail}", check="chain_hash"),
            stored.seq,
            use,
        )

    def replayed(self, body: bytes, *, tenant_id: str) -> tuple[VersionRecord, ...]:
        """The records of a stored Idempotency-Key response, each verified, all of
        ``tenant_id``: a DBA can edit the stored body like any other row."""
        try:
            items = parse_json(body)
            if not isinstance(items, list) or not items:
                raise InputError("expected a non-empty list of records")
            stored = [VersionRecord.from_dict(item) for item in items]
        except InputError as exc:
            raise self.violation(
                f"the stored response is not a list of records: {exc.detail}", check="replay"
            ) from exc
        for record in stored:
            if record.tenant_id != tenant_id:
                raise self.violation(
                    "the stored response holds another tenant's record",
                    check="tenant_id",
                    seq=record.seq,
                )
        return tuple(self.records(stored, use="replaying an Idempotency-Key response"))

    @staticmethod
    def violation(
        detail: str, *, check: str, seq: int | None = None, use: str = "replaying a response"
    ) -> IntegrityViolationError:
        """An IntegrityViolationError for stored state that is wrong in itself, logged."""
        return RecordGuard._violation(VerificationError(detail, check=check, seq=seq), seq, use)

    @staticmethod
    def _violation(exc: VerificationError, seq: int | None, use: str) -> IntegrityViolationError:
        where = f"stored record seq {seq}" if seq is not None else "a stored row"
        _log.error(
            "integrity violation: %s failed the %s check (%s); refused to use it for %s",
            where,
            exc.check,
            exc.detail,
            use,
        )
        return IntegrityViolationError(
            f"{where} failed its {exc.check} check; the service refused to use it for {use} "
            "and changed nothing",
            check=exc.check,
            seq=seq,
        )
