"""The tenant's log as a C2SP tlog-tiles read API: checkpoint, tiles and entry bundles.

Example::

    resources = LogResources(repository, trusted_keys)
    resource = resources.read(principal, "tile/0/x001/234")
    resource.data, resource.immutable   # 8,192 bytes of hashes, True (a full tile)
    resources.checkpoint(principal)     # b"<LOG_ORIGIN>/<tenant>\n<size>\n<root>\n\n— ..."

Paths are parsed strictly (``shared.core.tiles.parse_tile_path``); a tile the log does
not have yet, or an empty one, is a 404. Nothing here is trusted by a client: tiles and
entries are checked against a signed checkpoint by whoever reads them. The checkpoint is
the newest stored one, served only once it verifies with a trusted key (a read never
signs: docs/adr/0010-signed-note-checkpoints.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from shared.core.errors import (
    InputError,
    IntegrityViolationError,
    NotFoundError,
    VerificationError,
)
from shared.core.principal import SCOPE_READ, Principal
from shared.core.signing import PublicKey
from shared.core.tiles import TILE_HEIGHT, TILE_WIDTH, parse_tile_path
from shared.core.verification import verify_checkpoint
from shared.repository import Repository
from shared.repository_tiles import TileStore


@dataclasses.dataclass(frozen=True)
class LogResource:
    data: bytes
    # Full tiles and full entry bundles never change; partial ones are superseded.
    immutable: bool


class LogResources:
    def __init__(
        self,
        repository: Repository,
        trusted_keys: Mapping[str, PublicKey],
        *,
        checkpoint_keys: Mapping[str, PublicKey] | None = None,
    ) -> None:
        self._repository = repository
        self._trusted_keys = trusted_keys
        self._checkpoint_keys = checkpoint_keys

    def checkpoint(self, principal: Principal) -> bytes:
        """The newest checkpoint's signed note, byte for byte, once it verifies."""
        principal.require(SCOPE_READ)
        with self._repository.tenant_transaction(principal.tenant_id) as tx:
            latest = tx.latest_checkpoint()
        if latest is None:
            raise NotFoundError("this tenant's log has no signed checkpoint yet")
        if latest.note is None:
            raise NotFoundError(
                f"the newest checkpoint (tree size {latest.tree_size}) predates signed-note "
                "checkpoints; the next one signed will be a note"
            )
        try:
            verify_checkpoint(latest, self._trusted_keys, note_keys=self._checkpoint_keys)
        except VerificationError as exc:
            raise IntegrityViolationError(
                f"the stored checkpoint at tree size {latest.tree_size} does not verify: "
                f"{exc.detail}",
                check=exc.check,
                seq=latest.tree_size,
            ) from exc
        return latest.note

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
