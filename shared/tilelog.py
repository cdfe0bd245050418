"""The tenant's log as a C2SP tlog-tiles read API: tiles and entry bundles by path.

Example::

    resource = LogResources(repository).read(principal, "tile/0/x001/234")
    resource.data, resource.immutable   # 8,192 bytes of hashes, True (a full tile)

Paths are parsed strictly (``shared.core.tiles.parse_tile_path``); a tile the log does
not have yet, or an empty one, is a 404. Nothing here is trusted by a client: tiles and
entries are checked against a signed checkpoint by whoever reads them.
"""

from __future__ import annotations

import dataclasses

from shared.core.errors import InputError, NotFoundError
from shared.core.principal import SCOPE_READ, Principal
from shared.core.tiles import TILE_HEIGHT, TILE_WIDTH, parse_tile_path
from shared.repository import Repository
from shared.repository_tiles import TileStore


@dataclasses.dataclass(frozen=True)
class LogResource:
    data: bytes
    # Full tiles and full entry bundles never change; partial ones are superseded.
    immutable: bool


class LogResources:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def read(self, principal: Principal, path: str) -> LogResource:
        principal.require(SCOPE_READ)
        try:
            tile, entries = parse_tile_path(path)
        except InputError as exc:
            raise NotFoundError(f"{path[:80]!r} is not a tile or entry bundle path") from exc
        with self._repository.tenant_transaction(principal.tenant_id) as tx:
            size = tx.head().seq
            # A tile of width W exists once the tree holds its last hash.
            if (tile.start + tile.width) << (TILE_HEIGHT * tile.level) > size:
                raise NotFoundError(f"the log of {size} records has no {path}")
            store = TileStore(tx)
            data = store.entry_bundle(tile) if entries else store.tile(tile)
        return LogResource(data, immutable=tile.width == TILE_WIDTH)
