"""Audit a whole tenant log in the C2SP tlog-tiles layout with only its vkey and origin.

The source is a base URL (``<base>/checkpoint``, ``<base>/tile/...``: the verify
function's ``/verify/log`` with a read token, or a static file server) or a directory of
the same layout. Every entry bundle is fetched in order; every leaf hash, every tile and
the root are recomputed from the entry bytes and compared with what the source serves
and with the signed checkpoint. Memory is O(log n) plus one tile: ``TileAccumulator``
keeps one partial tile per level, ``MerkleAccumulator`` one hash per set bit of the size.

With a checkpoint saved earlier, the root at its size is recomputed from the same
verified leaves: a smaller current tree is a rollback, a different root a fork.
"""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from shared.core.canonical import canonicalize, parse_json
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import digests_equal, leaf_hash
from shared.core.merkle import MerkleAccumulator
from shared.core.note import Ed25519NoteVerifier
from shared.core.records import RecordContent
from shared.core.tiles import (
    TILE_WIDTH,
    Tile,
    TileAccumulator,
    parse_entry_bundle,
    tile_width_at,
    tiles_for_size,
)
from shared.core.tlog import TreeHead, open_checkpoint, origin_tenant


class FetchError(Exception):
    """The source could not deliver a resource: not a verdict on the log (exit 2)."""


class Source(Protocol):
    def read(self, path: str) -> bytes: ...


class DirectorySource:
    """A local copy of the layout: ``<dir>/checkpoint``, ``<dir>/tile/...``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes:
        try:
            return (self.root / path).read_bytes()
        except OSError as exc:
            raise FetchError(f"cannot read {self.root / path}: {exc.strerror}") from exc


class HttpSource:
    """A base URL; ``token`` is sent as a Bearer token (the read API needs one)."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 30.0) -> None:
        if not base.startswith(("http://", "https://")):
            raise FetchError(f"not an http(s) URL: {base}")
        self.base, self.token, self.timeout = base.rstrip("/"), token, timeout

    def read(self, path: str) -> bytes:
        # The scheme was checked in __init__: only http(s), never file: or custom ones.
        request = urllib.request.Request(f"{self.base}/{path}")  # noqa: S310
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise FetchError(f"GET {self.base}/{path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FetchError(f"GET {self.base}/{path}: {exc}") from exc


def source_for(where: str, token: str | None = None) -> Source:
    if where.startswith(("http://", "https://")):
        return HttpSource(where, token)
    return DirectorySource(Path(where))


@dataclasses.dataclass(frozen=True)
class TilesAudit:
    origin: str
    tree_size: int
    root_hash: bytes
    entries_checked: int
    tiles_checked: int
    trusted_size: int | None
    checkpoint_note: bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": True,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "entries_checked": self.entries_checked,
            "tiles_checked": self.tiles_checked,
            "trusted_size": self.trusted_size,
        }

    def summary(self) -> str:
        trusted = (
            f"; extends the saved checkpoint of tree size {self.trusted_size}"
            if self.trusted_size is not None
            else ""
        )
        return (
            f"{self.origin}: {self.entries_checked} entries and {self.tiles_checked} tiles "
            f"recomputed; root matches the signed checkpoint of tree size {self.tree_size}"
            f"{trusted}"
        )


def _check_entry(entry: bytes, index: int, tenant: str) -> None:
    """The entry is a canonical v1 record of this log's tenant, at seq index + 1."""
    try:
        if canonicalize(parse_json(entry)) != entry:
            raise VerificationError(
                "entry is not RFC 8785 canonical JSON", check="entry", seq=index + 1
            )
        content = RecordContent.from_canonical(entry)
    except InputError as exc:
        raise VerificationError(
            f"entry is not a record: {exc}", check="entry", seq=index + 1
        ) from exc
    if content.tenant_id != tenant or content.seq != index + 1:
        raise VerificationError(
            f"entry {index} is seq {content.seq} of tenant {content.tenant_id!r}, "
            f"not seq {index + 1} of {tenant!r}",
            check="entry",
            seq=index + 1,
            expected=[tenant, index + 1],
            found=[content.tenant_id, content.seq],
        )


def _compare_tile(source: Source, tile: Tile, computed: bytes) -> None:
    served = source.read(tile.path())
    if served != computed:
        raise VerificationError(
            f"{tile.path()} differs from the tile recomputed from the entries",
            check="tile",
        )


def open_trusted(note: bytes, origin: str, vkey: str) -> TreeHead:
    verifier = Ed25519NoteVerifier.from_vkey(vkey)
    return open_checkpoint(note, origin=origin, verifiers=[verifier])


def audit_tiles(
    source: Source, *, vkey: str, origin: str, trusted: bytes | None = None
) -> TilesAudit:
    """Raise VerificationError at the first thing that does not hold; FetchError if the
    source cannot serve a resource the checkpoint implies."""
    note = source.read("checkpoint")
    head = open_trusted(note, origin, vkey)
    old = open_trusted(trusted, origin, vkey) if trusted is not None else None
    if old is not None and head.size < old.size:
        raise VerificationError(
            f"rollback: the log now has {head.size} entries, the saved checkpoint has {old.size}",
            check="rollback",
            expected=old.size,
            found=head.size,
        )
    tenant = origin_tenant(origin)
    if old is not None and old.size == 0:
        _check_old_root(MerkleAccumulator().root(), old)
    tiles, merkle = TileAccumulator(), MerkleAccumulator()
    checked_tiles = 0
    for bundle_index in range((head.size + TILE_WIDTH - 1) // TILE_WIDTH):
        bundle = Tile(0, bundle_index, tile_width_at(0, bundle_index, head.size))
        entries = parse_entry_bundle(source.read(bundle.entries_path()))
        if len(entries) != bundle.width:
            raise VerificationError(
                f"{bundle.entries_path()} holds {len(entries)} entries, not {bundle.width}",
                check="entry-bundle",
            )
        for entry in entries:
            index = merkle.size
            _check_entry(entry, index, tenant)
            leaf = leaf_hash(entry)
            merkle.append(leaf)
            for full in tiles.append(leaf):
                _compare_tile(source, full.tile, full.data)
                checked_tiles += 1
            if old is not None and merkle.size == old.size:
                _check_old_root(merkle.root(), old)
    for tile in tiles_for_size(head.size):
        if not tile.is_full:
            _compare_tile(source, tile, tiles.partial_tile(tile.level))
            checked_tiles += 1
    computed = merkle.root()
    if not digests_equal(computed, head.root_hash):
        raise VerificationError(
            f"the root of the {head.size} entries is not the checkpoint's root",
            check="root",
            expected=head.root_hash.hex(),
            found=computed.hex(),
        )
    return TilesAudit(
        origin,
        head.size,
        head.root_hash,
        merkle.size,
        checked_tiles,
        old.size if old else None,
        note,
    )


def _check_old_root(computed: bytes, old: TreeHead) -> None:
    if not digests_equal(computed, old.root_hash):
        raise VerificationError(
            f"fork: the log's first {old.size} entries no longer have the saved checkpoint's root",
            check="fork",
            expected=old.root_hash.hex(),
            found=computed.hex(),
        )
