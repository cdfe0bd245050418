"""C2SP tlog-tiles: tile coordinates and paths, entry bundles, and proofs read from tiles.

A tiled log stores its Merkle tree as tiles of height 8: the tile at level L, index N
holds up to 256 consecutive hashes at tree level 8·L, starting at hash N·256. Level 0
holds leaf hashes; each hash of a level L+1 tile is the root of a *full* level L tile.
The rightmost tile of each level is partial (1..255 hashes) until it fills.

Example::

    >>> Tile(level=0, index=1234067, width=256).path()
    'tile/0/x001/x234/067'
    >>> Tile(level=1, index=0, width=17).path()
    'tile/1/000.p/17'
    >>> Tile(level=0, index=5, width=256).entries_path()
    'tile/entries/005'
    >>> [t.width for t in tiles_for_size(70_000) if not t.is_full]
    [112, 17, 1]

A proof from tiles (``reader``: anything with ``read_tiles(tiles) -> bytes``)::

    tree = TiledTree(size, reader)
    proof = tree.inclusion_proof(index)
    verify_inclusion(index=index, tree_size=size, leaf_hash=leaf, proof=proof,
                     root=tree.root())

``TiledTree`` plans which subtree hashes a proof needs (``shared.core.merkle`` ranges),
maps each to the one tile that holds it, and asks the reader for those tiles in a single
call: O(log n) tiles for any proof or root, never all the leaves. Hashes read from tiles
are *not* trusted here; callers verify the proof against a signed root.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE, leaf_hash, node_hash
from shared.core.merkle import EMPTY_ROOT, LeafRange, consistency_ranges, inclusion_ranges

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF


def encode_index(index: int) -> str:
    """Zero-padded 3-digit path elements, all but the last prefixed with ``x``."""
    if index < 0:
        raise InputError(f"tile index {index} is negative", path="$.index")
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(parts))


@dataclasses.dataclass(frozen=True, order=True)
class Tile:
    """Tile coordinates: level, index within the level, width (256 when full)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL or self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise InputError(f"no such tile {self.level}/{self.index}/{self.width}", path="$.tile")

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    def _suffix(self) -> str:
        return "" if self.is_full else f".p/{self.width}"

    def path(self) -> str:
        return f"tile/{self.level}/{encode_index(self.index)}{self._suffix()}"

    def entries_path(self) -> str:
        """The entry bundle matching this level-0 tile."""
        if self.level != 0:
            raise InputError("only level-0 tiles have entry bundles", path="$.tile")
        return f"tile/entries/{encode_index(self.index)}{self._suffix()}"

    @property
    def start(self) -> int:
        """Index of the first hash (at tree level 8·level) that the tile holds."""
        return self.index * TILE_WIDTH


_ELEMENT = r"(?:x[0-9]{3}/)*[0-9]{3}"
_TILE_PATH = re.compile(
    rf"tile/(?P<level>0|[1-9][0-9]?|entries)/(?P<index>{_ELEMENT})(?:\.p/(?P<width>[1-9][0-9]{{0,2}}))?"
)


def parse_tile_path(path: str) -> tuple[Tile, bool]:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` → (tile, is entry bundle).

    Strict: the path must be exactly what ``Tile.path`` would print (no leading zeros,
    no ``.p/256``, no redundant ``x000`` elements), so one resource has one URL.
    """
    match = _TILE_PATH.fullmatch(path)
    if not match:
        raise InputError(f"{path[:80]!r} is not a tile path", path="$.path")
    entries = match["level"] == "entries"
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    index = int(match["index"].replace("x", "").replace("/", ""))
    level = 0 if entries else int(match["level"])
    if level > MAX_LEVEL or (match["width"] and width >= TILE_WIDTH):
        raise InputError(f"{path[:80]!r} is not a tile path", path="$.path")
    tile = Tile(level, index, width)
    if (tile.entries_path() if entries else tile.path()) != path:
        raise InputError(f"{path[:80]!r} is not the canonical tile path", path="$.path")
    return tile, entries


def tile_width_at(level: int, index: int, tree_size: int) -> int:
    """Width of tile (level, index) in a tree of ``tree_size`` leaves; 0 if it is empty."""
    hashes_at_level = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH))


def tiles_for_size(tree_size: int) -> list[Tile]:
    """Every tile of a tree of ``tree_size`` leaves, level by level, partial ones last."""
    tiles: list[Tile] = []
    level = 0
    while tree_size >> (TILE_HEIGHT * level):
        hashes = tree_size >> (TILE_HEIGHT * level)
        tiles.extend(Tile(level, n) for n in range(hashes // TILE_WIDTH))
        if hashes % TILE_WIDTH:
            tiles.append(Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level += 1
    return tiles


def full_tiles_between(old_size: int, new_size: int) -> list[Tile]:
    """The full tiles that growing the tree from ``old_size`` to ``new_size`` completes.

    Level by level, lowest first, so each tile's children are listed before it.
    """
    tiles: list[Tile] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level) >= TILE_WIDTH:
        old_full = (old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
        new_full = (new_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
        tiles.extend(Tile(level, n) for n in range(old_full, new_full))
        level += 1
    return tiles


@dataclasses.dataclass(frozen=True)
class FullTile:
    """A completed tile: its coordinates, its 256 hashes and the root it passes up."""

    tile: Tile
    data: bytes
    root: bytes


# (level, start, end) -> the hashes at that tile level with indexes start..end-1 that
# existed before an append: leaf hashes at level 0, roots of full tiles below above it.
EarlierHashes = Callable[[int, int, int], list[bytes]]


def build_full_tiles(
    old_size: int, new_leaf_hashes: Sequence[bytes], earlier: EarlierHashes
) -> list[FullTile]:
    """The full tiles that appending ``new_leaf_hashes`` to a tree of ``old_size`` completes.

    Lowest level first. Only the hashes a completed tile needs from before the append are
    asked for, so an append that completes no tile reads nothing, and one that does reads
    at most 255 earlier hashes per level.
    """
    new_size = old_size + len(new_leaf_hashes)
    completed = full_tiles_between(old_size, new_size)
    fresh: dict[int, bytes] = dict(enumerate(new_leaf_hashes, start=old_size))
    built: list[FullTile] = []
    level = 0
    while any(tile.level == level for tile in completed):
        existed = old_size >> (TILE_HEIGHT * level)  # hashes at this level before
        above: dict[int, bytes] = {}
        for tile in (t for t in completed if t.level == level):
            boundary = min(max(existed, tile.start), tile.start + TILE_WIDTH)
            hashes = earlier(level, tile.start, boundary) if boundary > tile.start else []
            if len(hashes) != boundary - tile.start:
                raise VerificationError(
                    f"{tile.path()}: {len(hashes)} earlier hashes, not {boundary - tile.start}",
                    check="tile",
                )
            hashes += [fresh[i] for i in range(boundary, tile.start + TILE_WIDTH)]
            data = b"".join(hashes)
            built.append(FullTile(tile, data, tile_root(data)))
            # The tile's root is the next level's hash at the tile's index.
            above[tile.index] = built[-1].root
        fresh = above
        level += 1
    return built


class TileAccumulator:
    """Leaf hashes in log order in, each full tile out as it completes.

    Holds only the partial tile of each level (at most 255 hashes per level), so an
    audit can hold a log of any size against its stored tiles.
    """

    def __init__(self) -> None:
        self._partial: list[list[bytes]] = []
        self._full: list[int] = []  # full tiles completed so far, per level

    def append(self, leaf_hash: bytes) -> list[FullTile]:
        completed: list[FullTile] = []
        node, level = leaf_hash, 0
        while True:
            if level == len(self._partial):
                self._partial.append([])
                self._full.append(0)
            row = self._partial[level]
            row.append(node)
            if len(row) < TILE_WIDTH:
                return completed
            data = b"".join(row)
            completed.append(FullTile(Tile(level, self._full[level]), data, tile_root(data)))
            row.clear()
            self._full[level] += 1
            node, level = completed[-1].root, level + 1

    def full_tiles(self, level: int) -> int:
        return self._full[level] if level < len(self._full) else 0

    def partial_tile(self, level: int) -> bytes:
        """The hashes of ``level``'s partial tile so far (empty when none): the partial
        tile of the tree's current size, byte for byte as tlog-tiles serves it."""
        return b"".join(self._partial[level]) if level < len(self._partial) else b""


def split_hashes(data: bytes, width: int) -> list[bytes]:
    """A tile's bytes as its ``width`` hashes; VerificationError if the length is wrong."""
    if len(data) != width * HASH_SIZE:
        raise VerificationError(
            f"tile data is {len(data)} bytes, not {width} hashes", check="tile", found=len(data)
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree whose leaves are ``hashes`` (a power-of-two count)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise InputError(f"{len(level)} hashes do not form a perfect subtree")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def tile_root(data: bytes) -> bytes:
    """The hash a full tile contributes to the level above: the root of its 256 hashes."""
    return perfect_root(split_hashes(data, TILE_WIDTH))


# --- entry bundles ------------------------------------------------------------------


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as big-endian uint16 length-prefixed byte strings, concatenated."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise InputError(f"a log entry is at most {MAX_ENTRY_SIZE} bytes, not {len(entry)}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; VerificationError(check="entry-bundle") if truncated."""
    entries, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise VerificationError("entry bundle ends inside a length", check="entry-bundle")
        length = int.from_bytes(data[offset : offset + 2], "big")
        if offset + 2 + length > len(data):
            raise VerificationError("entry bundle ends inside an entry", check="entry-bundle")
        entries.append(data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return entries


# --- proofs from tiles --------------------------------------------------------------


class TileReader(Protocol):
    """Where tiles come from: the repository, an HTTP client, a directory, a test fake."""

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        """The bytes of each tile, in order (``width`` hashes each)."""
        ...


Node = tuple[int, int]  # (tree level, index within that level): a perfect subtree


def _range_nodes(start: int, end: int) -> list[Node]:
    """The perfect aligned subtrees that make up [start, end), left to right."""
    nodes = []
    while start < end:
        size = start & -start if start else 1 << ((end - start).bit_length() - 1)
        while start + size > end:
            size >>= 1
        level = size.bit_length() - 1
        nodes.append((level, start >> level))
        start += size
    return nodes


class TiledTree:
    """The Merkle tree of ``size`` leaves, read through a ``TileReader``."""

    def __init__(self, size: int, reader: TileReader) -> None:
        if size < 0:
            raise InputError(f"tree size {size} is negative", path="$.tree_size")
        self.size = size
        self._reader = reader

    def _tile_for(self, node: Node) -> tuple[Tile, int, int]:
        """The tile holding ``node`` and the slice of its hashes that the node spans."""
        level, index = node
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height
        tile_index = first // TILE_WIDTH
        width = tile_width_at(tile_level, tile_index, self.size)
        offset = first % TILE_WIDTH
        if offset + (1 << height) > width:
            raise InputError(f"node {node} is not complete in a tree of size {self.size}")
        return Tile(tile_level, tile_index, width), offset, 1 << height

    def range_hashes(self, ranges: Sequence[LeafRange]) -> list[bytes]:
        """MTH(D[start:end]) for each range, reading every needed tile once."""
        plans = [_range_nodes(start, end) for start, end in ranges]
        located = {node: self._tile_for(node) for plan in plans for node in plan}
        wanted = sorted({tile for tile, _, _ in located.values()})
        data = dict(zip(wanted, self._reader.read_tiles(wanted), strict=True))
        hashes = {tile: split_hashes(data[tile], tile.width) for tile in wanted}
        results = []
        for plan in plans:
            if not plan:
                results.append(EMPTY_ROOT)
                continue
            nodes = []
            for node in plan:
                tile, offset, count = located[node]
                nodes.append(perfect_root(hashes[tile][offset : offset + count]))
            # A proof range is left-balanced, so folding its perfect parts from the
            # right rebuilds exactly the RFC's MTH.
            result = nodes[-1]
            for left in reversed(nodes[:-1]):
                result = node_hash(left, result)
            results.append(result)
        return results

    def root(self) -> bytes:
        return self.range_hashes([(0, self.size)])[0]

    def leaf_hash(self, index: int) -> bytes:
        return self.range_hashes([(index, index + 1)])[0]

    def inclusion_proof(self, index: int) -> list[bytes]:
        return self.range_hashes(inclusion_ranges(index, self.size))

    def consistency_proof(self, first_size: int) -> list[bytes]:
        return self.range_hashes(consistency_ranges(first_size, self.size))

    def root_at(self, size: int) -> bytes:
        """Root of the first ``size`` leaves: every node it needs is complete here too."""
        if not 0 <= size <= self.size:
            raise InputError(f"size {size} is outside 0..{self.size}", path="$.tree_size")
        return self.range_hashes([(0, size)])[0]


def log_resources(entries: Sequence[bytes]) -> Iterator[tuple[str, bytes]]:
    """Every tile and entry bundle of a log of ``entries``, as (path, bytes).

    With a signed ``checkpoint`` beside them, that is the whole static tlog-tiles
    layout: what a bucket or a directory serves and what tests hand to other clients.
    """
    reader = LeafTileReader([leaf_hash(entry) for entry in entries])
    for tile in tiles_for_size(len(entries)):
        yield tile.path(), reader.read_tiles([tile])[0]
        if tile.level == 0:
            bundle = entries[tile.start : tile.start + tile.width]
            yield tile.entries_path(), encode_entry_bundle(bundle)


class LeafTileReader:
    """Tiles computed from an in-memory list of leaf hashes: the reference for tests,
    the migration that builds tiles for existing logs, and a writer's new tiles."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self._levels[-1]) >= TILE_WIDTH:
            below = self._levels[-1]
            self._levels.append(
                [
                    perfect_root(below[i : i + TILE_WIDTH])
                    for i in range(0, len(below) - TILE_WIDTH + 1, TILE_WIDTH)
                ]
            )

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out = []
        for tile in tiles:
            hashes = self._levels[tile.level][tile.start : tile.start + tile.width]
            if len(hashes) != tile.width:
                raise InputError(f"{tile.path()} is beyond the tree")
            out.append(b"".join(hashes))
        return out
