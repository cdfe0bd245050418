from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import leaf_hash
from shared.core.merkle import (
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)
from shared.core.tiles import (
    FULL_TILE_BYTES,
    FullTile,
    LeafTileReader,
    Tile,
    TileAccumulator,
    TiledTree,
    build_full_tiles,
    encode_entry_bundle,
    encode_index,
    full_tiles_between,
    log_resources,
    parse_entry_bundle,
    parse_tile_path,
    tile_root,
    tiles_for_size,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


class CountingReader:
    """A TileReader that records what it was asked for."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._inner = LeafTileReader(leaf_hashes)
        self.calls: list[list[Tile]] = []

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        self.calls.append(list(tiles))
        return self._inner.read_tiles(tiles)


class ShapeReader:
    """Zero hashes of the right widths: counts the tiles a huge tree's proof needs."""

    def __init__(self) -> None:
        self.tiles: list[Tile] = []

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        self.tiles.extend(tiles)
        return [bytes(32 * t.width) for t in tiles]


def test_paths_follow_the_spec() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(1000) == "x001/000"
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert Tile(3, 5, 17).path() == "tile/3/005.p/17"
    assert Tile(0, 1234067, 1).entries_path() == "tile/entries/x001/x234/067.p/1"
    with pytest.raises(InputError):
        Tile(1, 0).entries_path()


@pytest.mark.parametrize(
    "path",
    ["tile/0/x001/x234/067", "tile/63/000.p/255", "tile/entries/000.p/1", "tile/12/x999/999"],
)
def test_tile_paths_round_trip(path: str) -> None:
    tile, entries = parse_tile_path(path)
    assert (tile.entries_path() if entries else tile.path()) == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/067",  # redundant leading element
        "tile/00/000",
        "tile/64/000",
        "tile/0/0001",
        "tile/0/01",
        "tile/0/x1/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/01",
        "tile/0/000/",
        "tile/data/000",
        "tile/-1/000",
        "/tile/0/000",
        "tile/0/000.p/",
    ],
)
def test_non_canonical_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(InputError):
        parse_tile_path(path)


def test_the_spec_examples_of_partial_tiles() -> None:
    tiles = tiles_for_size(70_000)
    assert sum(1 for t in tiles if t.level == 0 and t.is_full) == 273
    assert [t for t in tiles if not t.is_full] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1 and t.is_full] == [Tile(1, 0)]
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []


def test_full_tiles_between() -> None:
    assert full_tiles_between(0, 255) == []
    assert full_tiles_between(255, 256) == [Tile(0, 0)]
    assert full_tiles_between(256, 511) == []
    assert full_tiles_between(65_535, 65_536) == [Tile(0, 255), Tile(1, 0)]
    assert full_tiles_between(0, 70_000) == [t for t in tiles_for_size(70_000) if t.is_full]


def test_upper_tiles_hold_roots_of_full_tiles_below() -> None:
    d = leaves(256 * 3 + 5)
    reader = LeafTileReader(d)
    level0 = reader.read_tiles([Tile(0, 1)])[0]
    assert len(level0) == FULL_TILE_BYTES
    assert tile_root(level0) == root(d[256:512])
    assert reader.read_tiles([Tile(1, 0, 3)])[0][32:64] == root(d[256:512])


@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 257, 511, 512, 513, 65_536, 70_000])
def test_proofs_from_tiles_equal_proofs_from_leaves(n: int) -> None:
    d = leaves(n)
    tree = TiledTree(n, LeafTileReader(d))
    assert tree.root() == root(d)
    for index in {0, 1 % n, n // 2, n - 1, max(0, n - 257)}:
        assert tree.inclusion_proof(index) == inclusion_proof(index, d)
        assert tree.leaf_hash(index) == d[index]
    for first in {1, n // 3 or 1, 256 if n >= 256 else 1, n - 1 or 1, n}:
        assert tree.consistency_proof(first) == consistency_proof(first, d)
        assert tree.root_at(first) == root(d[:first])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_random_trees_from_tiles(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    tree = TiledTree(n, LeafTileReader(d))
    index = data.draw(st.integers(0, n - 1))
    first = data.draw(st.integers(1, n))
    assert tree.inclusion_proof(index) == inclusion_proof(index, d)
    assert tree.consistency_proof(first) == consistency_proof(first, d)


def test_one_batched_read_per_proof() -> None:
    reader = CountingReader(leaves(1000))
    tree = TiledTree(1000, reader)
    tree.inclusion_proof(300)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) == len(set(reader.calls[0]))  # each tile once


@pytest.mark.parametrize("size", [10**3, 10**6, 10**9, 2**40 + 12345])
def test_a_proof_reads_a_logarithmic_number_of_tiles(size: int) -> None:
    reader = ShapeReader()
    tree = TiledTree(size, reader)
    tree.inclusion_proof(size // 3)
    tree.consistency_proof(size // 7 + 1)
    tree.root()
    levels = 1
    while size >> (8 * levels):
        levels += 1
    # At most three tiles per level per operation (the path's, the border's, the root's).
    assert len(reader.tiles) <= 9 * levels


def test_a_changed_tile_hash_breaks_the_proof() -> None:
    d = leaves(1000)

    class Tampered(LeafTileReader):
        def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
            out = super().read_tiles(tiles)
            return [
                bytes(b ^ 1 if i == 40 else b for i, b in enumerate(data))
                if t == Tile(0, 1)
                else data
                for t, data in zip(tiles, out, strict=True)
            ]

    tree = TiledTree(1000, Tampered(d))
    with pytest.raises(VerificationError):
        verify_inclusion(
            index=300,
            tree_size=1000,
            leaf_hash=d[300],
            proof=tree.inclusion_proof(300),
            root=root(d),
        )
    with pytest.raises(VerificationError):
        verify_consistency(
            first_size=300,
            second_size=1000,
            first_root=root(d[:300]),
            second_root=root(d),
            proof=tree.consistency_proof(300),
        )


def test_a_short_tile_is_refused() -> None:
    class Short:
        def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
            return [b"\x00" * 31 for _ in tiles]

    with pytest.raises(VerificationError, match="not 1 hashes"):
        TiledTree(1, Short()).root()


def test_entry_bundles() -> None:
    items = [b"", b"a", b"x" * 300, b"y" * 65_535]
    bundle = encode_entry_bundle(items)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(bundle) == items
    with pytest.raises(InputError):
        encode_entry_bundle([b"z" * 65_536])
    for truncated in (bundle[:1], bundle[:-1], b"\x00\x05abc"):
        with pytest.raises(VerificationError):
            parse_entry_bundle(truncated)


def test_log_resources_is_the_whole_layout() -> None:
    items = [b"e%d" % i for i in range(300)]
    resources = dict(log_resources(items))
    assert sorted(resources) == sorted(
        [
            "tile/0/000",
            "tile/0/001.p/44",
            "tile/1/000.p/1",
            "tile/entries/000",
            "tile/entries/001.p/44",
        ]
    )
    assert parse_entry_bundle(resources["tile/entries/001.p/44"]) == items[256:]
    assert resources["tile/1/000.p/1"] == root([leaf_hash(e) for e in items[:256]])


@pytest.mark.parametrize(
    "steps",
    [
        [1] * 600,
        [255, 1, 256, 257, 3, 1000],
        [65_535, 1, 300],  # completes level 0 tile 255 and level 1 tile 0 in one append
        [40_000, 30_000],
    ],
)
def test_building_full_tiles_append_by_append(steps: list[int]) -> None:
    total = sum(steps)
    d = leaves(total)
    reference = LeafTileReader(d)
    stored: dict[Tile, FullTile] = {}

    def earlier(level: int, start: int, end: int) -> list[bytes]:
        if level == 0:
            return d[start:end]
        return [stored[Tile(level - 1, i)].root for i in range(start, end)]

    size = 0
    for step in steps:
        for built in build_full_tiles(size, d[size : size + step], earlier):
            assert built.tile not in stored
            assert built.data == reference.read_tiles([built.tile])[0]
            stored[built.tile] = built
        size += step
    assert sorted(stored) == [t for t in tiles_for_size(total) if t.is_full]


def test_building_refuses_missing_earlier_hashes() -> None:
    with pytest.raises(VerificationError, match="earlier hashes"):
        build_full_tiles(200, leaves(56), lambda level, start, end: [])


def test_the_accumulator_yields_every_full_tile_once() -> None:
    d = leaves(65_536 + 300)
    reference = LeafTileReader(d)
    accumulator = TileAccumulator()
    seen = [tile for leaf in d for tile in accumulator.append(leaf)]
    assert sorted(t.tile for t in seen) == [t for t in tiles_for_size(len(d)) if t.is_full]
    assert all(t.data == reference.read_tiles([t.tile])[0] for t in seen)
    assert (accumulator.full_tiles(0), accumulator.full_tiles(1), accumulator.full_tiles(2)) == (
        257,
        1,
        0,
    )
