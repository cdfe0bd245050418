"""Idempotency-Key replays: what a stored response names, and what a replay trusts.

An Idempotency-Key row stores where the write's records are (their seq range), not the
records. A replay reads them back from the log and verifies them like any other read,
because the row and the log are rows a DBA can edit; and it re-authorises the caller,
who must hold what the original request needed (the same tenant, and the admin scope if
that supersede certified or retired).

Example::

    tx.store_response(key, request_hash(command), response_body(records), created_at)
    ...
    records = stored_records(guard, principal, tx, stored.body, supersede=None)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from shared.core import entities
from shared.core.canonical import canonicalize, parse_json
from shared.core.commands import Supersede
from shared.core.errors import InputError
from shared.core.hashing import chain_hash, digests_equal
from shared.core.principal import SCOPE_ADMIN, Principal
from shared.core.records import VersionRecord
from shared.integrity import RecordGuard
from shared.repository import TenantTransaction

# What an Idempotency-Key row stores: the seq range of the write, not its records.
REPLAY_FORMAT = "plant-registry/idempotent-response/v2"


def response_body(records: Sequence[VersionRecord]) -> bytes:
    """The stored response of a write: the seq range its records took, tiny however
    large the batch was."""
    return canonicalize(
        {"format": REPLAY_FORMAT, "first_seq": records[0].seq, "count": len(records)}
    )


def stored_records(
    guard: RecordGuard,
    principal: Principal,
    tx: TenantTransaction,
    body: bytes,
    supersede: Supersede | None,
) -> tuple[VersionRecord, ...]:
    """The stored response's records, verified, if this caller may have them.

    The stored body is a row a DBA can edit, so its records pass the guard like any
    other; and the caller must hold what the original request needed: the same
    tenant, and the admin scope if that supersede certified or retired.
    """
    records = _named_records(guard, tx, body, tenant_id=principal.tenant_id)
    if supersede is None:
        if any(record.supersedes is not None for record in records):
            raise guard.violation(
                "a stored create response holds a superseding version",
                check="replay",
                seq=records[0].seq,
            )
        return records
    [record] = records
    if record.entity_id != supersede.entity_id or record.supersedes is None:
        raise guard.violation(
            "the stored response is for another entity", check="replay", seq=record.seq
        )
    stored = tx.version(record.entity_id, record.supersedes)
    if stored is None:
        raise guard.violation(
            f"version {record.supersedes} is missing", check="replay", seq=record.seq
        )
    previous = guard.record(stored, use="re-authorising a replay")
    if entities.transition_needs_admin(record.entity_type, previous.status, record.status):
        principal.require(SCOPE_ADMIN)
    return records


def _named_records(
    guard: RecordGuard, tx: TenantTransaction, body: bytes, *, tenant_id: str
) -> tuple[VersionRecord, ...]:
    """The records a stored response names: a seq range, read from the log and
    verified (each record, and the chain links between them). Rows written before
    the range format hold the records themselves, verified the same way."""
    try:
        document = parse_json(body)
    except InputError:
        document = None
    if not (isinstance(document, dict) and document.get("format") == REPLAY_FORMAT):
        return guard.replayed(body, tenant_id=tenant_id)
    first, count = document.get("first_seq"), document.get("count")
    if type(first) is not int or type(count) is not int or first < 1 or count < 1:
        raise guard.violation("the stored response names no seq range", check="replay")
    stored = tx.log_range(first, count)
    if [r.seq for r in stored] != list(range(first, first + count)):
        raise guard.violation(
            f"the records of seqs {first}..{first + count - 1} are not all in the log",
            check="replay",
            seq=first,
        )
    for previous, record in itertools.pairwise(stored):
        if not digests_equal(chain_hash(previous.chain_hash, record.leaf_hash), record.chain_hash):
            raise guard.violation(
                f"record seq {record.seq}: its chain hash does not link to seq {previous.seq}",
                check="chain_hash",
                seq=record.seq,
            )
    return tuple(guard.records(stored, use="replaying an Idempotency-Key response"))
