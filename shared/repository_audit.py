"""The audit's reads: a chunk of the log as a few large values, and its stored tiles.

Decoding a row per record costs the driver more than the audit's own checks (about
30 µs for a record's fifteen columns), so a chunk of the log travels as one row: the
content columns as one JSON array (parsed by the C JSON decoder in one call) and the
byte columns as one length-prefixed blob. Nothing here is trusted: the auditor recomputes
every leaf from the canonical bytes and holds the columns against them.

Example::

    with repository.tenant_transaction("acme") as tx:
        chunk = AuditReader(tx).chunk(from_seq=1, limit=8192)
        for entry in chunk.entries: ...
"""

from __future__ import annotations

import dataclasses
import json
import struct

import sqlalchemy as sa

from shared.core.audit import LogEntry
from shared.core.errors import VerificationError
from shared.core.records import CONTENT_FIELDS
from shared.core.tiles import TILE_WIDTH
from shared.repository import TenantTransaction

# Each content column as the JSON value of its field: the uuid as text, the timestamp
# in format_timestamp's one form (UTC, six fractional digits, Z).
_COLUMN_JSON = {
    "entity_id": "v.entity_id::text",
    "created_at": ("to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
}
_CONTENT_OBJECT = ", ".join(
    f"'{name}', {_COLUMN_JSON.get(name, f'v.{name}')}" for name in CONTENT_FIELDS
)


# Per record: four big-endian uint32 lengths, then the canonical bytes, leaf hash, chain
# hash and signature. Lengths keep a tampered column from shifting its neighbours.
_SEAL_BLOB = (
    "int4send(octet_length(coalesce(v.canonical, ''::bytea))) "
    "|| int4send(octet_length(coalesce(v.leaf_hash, ''::bytea))) "
    "|| int4send(octet_length(coalesce(v.chain_hash, ''::bytea))) "
    "|| int4send(octet_length(coalesce(v.signature, ''::bytea))) "
    "|| coalesce(v.canonical, '') || coalesce(v.leaf_hash, '') "
    "|| coalesce(v.chain_hash, '') || coalesce(v.signature, '')"
)
_CHUNK = sa.text(
    "SELECT count(*), "
    f"json_agg(json_build_array(json_build_object({_CONTENT_OBJECT}), v.key_id) "
    "ORDER BY v.seq)::text, "
    f"string_agg({_SEAL_BLOB}, ''::bytea ORDER BY v.seq) "
    "FROM (SELECT * FROM registry.entity_versions AS r WHERE r.tenant_id = :tenant "
    "AND r.seq >= :from_seq ORDER BY r.seq LIMIT :limit) AS v"
)
_TILES = sa.text(
    "SELECT tile_index, hashes, root FROM registry.tiles WHERE tenant_id = :tenant "
    "AND level = 0 AND tile_index >= :first AND tile_index < :end"
)
_TILE_COUNTS = sa.text(
    "SELECT level, count(*) FROM registry.tiles WHERE tenant_id = :tenant GROUP BY level"
)
_LENGTHS = struct.Struct(">IIII")


@dataclasses.dataclass(frozen=True)
class AuditChunk:
    """Up to ``limit`` records from ``from_seq`` on, and the level-0 full tiles stored
    for the tile indexes those seqs fall in, by index: (hashes, root)."""

    entries: list[LogEntry]
    tiles: dict[int, tuple[bytes, bytes]]
    # Full tiles stored per level, read in the same transaction as the records, so the
    # last chunk can show that no full tile lies beyond the log's records.
    tile_counts: dict[int, int]


def _entries(count: int, columns_json: str | None, blob: bytes | None) -> list[LogEntry]:
    if count == 0:
        return []
    rows = json.loads(columns_json or "[]")
    data = bytes(blob or b"")
    if len(rows) != count:
        raise VerificationError(
            f"the log read returned {len(rows)} column rows for {count} records", check="read"
        )
    entries = []
    position = 0
    unpack = _LENGTHS.unpack_from
    for row in rows:
        if position + 16 > len(data):
            raise VerificationError("the log read returned fewer seals than records", check="read")
        lengths = unpack(data, position)
        position += 16
        parts = []
        for length in lengths:
            parts.append(data[position : position + length])
            position += length
        canonical, leaf, chain, signature = parts
        content, key_id = row
        entries.append(LogEntry(content["seq"], content, canonical, leaf, chain, signature, key_id))
    return entries


class AuditReader:
    """The audit's reads inside one tenant transaction."""

    def __init__(self, tx: TenantTransaction) -> None:
        self._conn = tx.conn
        self._tenant = tx.tenant_id

    def chunk(self, from_seq: int, limit: int) -> AuditChunk:
        """Records from ``from_seq`` on, in seq order, with their level-0 tiles and the
        tile counts; one round trip."""
        first_tile = (from_seq - 1) // TILE_WIDTH
        tiles = self._conn.defer(
            _TILES,
            {
                "tenant": self._tenant,
                "first": first_tile,
                "end": (from_seq + limit - 2) // TILE_WIDTH + 1,
            },
        )
        counts = self._conn.defer(_TILE_COUNTS, {"tenant": self._tenant})
        count, columns_json, blob = self._conn.execute(
            _CHUNK, {"tenant": self._tenant, "from_seq": from_seq, "limit": limit}
        ).one()
        stored = {row[0]: (bytes(row[1]), bytes(row[2])) for row in tiles.result()}
        tile_counts = {int(row[0]): int(row[1]) for row in counts.result()}
        return AuditChunk(_entries(count, columns_json, blob), stored, tile_counts)
