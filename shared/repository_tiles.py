"""Tile storage: the SQL behind a tenant's tlog-tiles (docs/adr/0006-tiles-storage.md).

Full tiles are rows of ``registry.tiles``, written in the append transaction that
completes them and never changed. A partial tile is derived when read, from at most 255
small rows: level 0 from the records' leaf hashes, level L from the roots of the full
tiles at level L-1. Either way a proof reads O(log n) rows.

Example::

    with repository.append_transaction("acme") as (tx, head):
        ...insert records...
        TileStore(tx).append(head.seq, records, created_at)
    with repository.tenant_transaction("acme") as tx:
        tree = TiledTree(size, TileStore(tx))  # a TileReader
        proof = tree.inclusion_proof(index)   # verified by the caller against a signed root

Nothing read here is trusted: the hashes that feed a new full tile are re-derived (leaf
hashes from canonical bytes, a full tile's root from its hashes), and every proof built
from tiles is verified against a signed root before anyone relies on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from shared.core.errors import VerificationError
from shared.core.hashing import HASH_SIZE, digests_equal, leaf_hash
from shared.core.records import VersionRecord
from shared.core.tiles import (
    Tile,
    build_full_tiles,
    encode_entry_bundle,
    split_hashes,
    tile_root,
)
from shared.repository import TenantTransaction

_FULL_TILES = sa.text(
    "SELECT level, tile_index, hashes, root FROM registry.tiles "
    "WHERE tenant_id = :tenant AND level = :level AND tile_index = ANY(CAST(:indexes AS bigint[]))"
)
_COUNT_FULL = sa.text(
    "SELECT count(*) FROM registry.tiles WHERE tenant_id = :tenant AND level = :level"
)
_TILE_ROOTS = sa.text(
    "SELECT count(*), string_agg(root, ''::bytea ORDER BY tile_index) FROM registry.tiles "
    "WHERE tenant_id = :tenant AND level = :level AND tile_index >= :first "
    "AND tile_index < :end"
)
_LEAF_HASHES = sa.text(
    "SELECT count(*), string_agg(leaf_hash, ''::bytea ORDER BY seq) "
    "FROM registry.entity_versions WHERE tenant_id = :tenant AND seq > :after AND seq <= :upto"
)
_CANONICAL = sa.text(
    "SELECT seq, canonical FROM registry.entity_versions "
    "WHERE tenant_id = :tenant AND seq > :after AND seq <= :upto ORDER BY seq"
)
_INSERT_TILE = sa.text(
    "INSERT INTO registry.tiles (tenant_id, level, tile_index, hashes, root, created_at) "
    "VALUES (:tenant, :level, :tile_index, :hashes, :root, :created_at)"
)


def _missing(detail: str, seq: int | None = None) -> VerificationError:
    return VerificationError(detail, check="tile", seq=seq)


class TileStore:
    """Reads and writes one tenant's tiles inside a tenant transaction."""

    def __init__(self, tx: TenantTransaction) -> None:
        self._conn = tx.conn
        self._tenant = tx.tenant_id

    # --- writing -------------------------------------------------------------------

    def append(self, old_size: int, records: Sequence[VersionRecord], created_at: datetime) -> int:
        """Store the full tiles that ``records`` (seqs old_size+1..) complete; their count.

        The new records' leaf hashes come from their own canonical bytes, sealed in this
        transaction; any earlier hash a completed tile needs is re-derived from stored
        bytes first.
        """
        built = build_full_tiles(old_size, [r.leaf_hash for r in records], self._earlier)
        # Queued, not awaited: the inserts travel with the transaction's next statement
        # (or its COMMIT), so completing a tile adds no round trip of its own.
        for t in built:
            self._conn.defer(
                _INSERT_TILE,
                {
                    "tenant": self._tenant,
                    "level": t.tile.level,
                    "tile_index": t.tile.index,
                    "hashes": t.data,
                    "root": t.root,
                    "created_at": created_at,
                },
            )
        return len(built)

    def _earlier(self, level: int, start: int, end: int) -> list[bytes]:
        if level == 0:
            rows = self._conn.execute(
                _CANONICAL, {"tenant": self._tenant, "after": start, "upto": end}
            ).all()
            if [row[0] for row in rows] != list(range(start + 1, end + 1)):
                raise _missing(f"records {start + 1}..{end} are not all in the log", seq=start + 1)
            return [leaf_hash(bytes(row[1])) for row in rows]
        found = self.full_tiles(level - 1, range(start, end))
        roots = []
        for index in range(start, end):
            data, root = found.get(index, (b"", b""))
            if not data or not digests_equal(tile_root(data), root):
                raise _missing(f"full tile {level - 1}/{index} is missing or altered")
            roots.append(root)
        return roots

    # --- reading -------------------------------------------------------------------

    def full_tiles(self, level: int, indexes: Sequence[int]) -> dict[int, tuple[bytes, bytes]]:
        rows = self._conn.execute(
            _FULL_TILES, {"tenant": self._tenant, "level": level, "indexes": list(indexes)}
        )
        return {row[1]: (bytes(row[2]), bytes(row[3])) for row in rows}

    def count_full(self, level: int) -> int:
        return int(self._conn.scalar(_COUNT_FULL, {"tenant": self._tenant, "level": level}))

    def _partial(self, tile: Tile) -> bytes:
        if tile.level == 0:
            count, blob = self._conn.execute(
                _LEAF_HASHES,
                {"tenant": self._tenant, "after": tile.start, "upto": tile.start + tile.width},
            ).one()
        else:
            count, blob = self._conn.execute(
                _TILE_ROOTS,
                {
                    "tenant": self._tenant,
                    "level": tile.level - 1,
                    "first": tile.start,
                    "end": tile.start + tile.width,
                },
            ).one()
        data = bytes(blob or b"")
        if count != tile.width or len(data) != tile.width * HASH_SIZE:
            raise _missing(f"{tile.path()}: {count} of its {tile.width} hashes are stored")
        return data

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        """The bytes of each tile: full ones in one query per level, partial ones derived."""
        out: dict[Tile, bytes] = {}
        for level in sorted({t.level for t in tiles if t.is_full}):
            wanted = [t for t in tiles if t.is_full and t.level == level]
            found = self.full_tiles(level, [t.index for t in wanted])
            for tile in wanted:
                if tile.index not in found:
                    raise _missing(f"{tile.path()} is not stored")
                out[tile] = found[tile.index][0]
        for tile in tiles:
            if not tile.is_full:
                out[tile] = self._partial(tile)
        return [out[tile] for tile in tiles]

    def entry_bundle(self, tile: Tile) -> bytes:
        """The entries (canonical bytes) of level-0 ``tile``, length-prefixed."""
        rows = self._conn.execute(
            _CANONICAL,
            {"tenant": self._tenant, "after": tile.start, "upto": tile.start + tile.width},
        ).all()
        if len(rows) != tile.width:
            raise _missing(f"{tile.entries_path()}: {len(rows)} of {tile.width} entries")
        return encode_entry_bundle([bytes(row[1]) for row in rows])

    def tile(self, tile: Tile) -> bytes:
        data = self.read_tiles([tile])[0]
        split_hashes(data, tile.width)  # the length is part of the format
        return data
