"""The tenant's log as a C2SP tlog-tiles read API under the verify function."""

from __future__ import annotations

import pytest

from shared.core.hashing import leaf_hash
from shared.core.merkle import root
from shared.core.tiles import LeafTileReader, Tile, parse_entry_bundle
from tests.functions.http_support import Api, assert_problem
from tests.integration.helpers import skill_data

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]


def _fill(api: Api, n: int) -> None:
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(n)]
    response = api.call("create", "POST", "/batch", json={"entities": items})
    assert response.status_code == 201, response.get_json()


def test_tiles_and_entry_bundles_byte_for_byte(api: Api) -> None:
    _fill(api, 300)
    bundle0 = api.call("verify", "GET", "/log/tile/entries/000")
    assert bundle0.status_code == 200
    assert bundle0.content_type == "application/octet-stream"
    assert bundle0.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    partial = api.call("verify", "GET", "/log/tile/entries/001.p/44")
    assert partial.status_code == 200
    assert partial.headers["Cache-Control"] == "private, no-cache"
    entries = parse_entry_bundle(bundle0.data) + parse_entry_bundle(partial.data)
    assert len(entries) == 300
    leaves = [leaf_hash(e) for e in entries]
    reference = LeafTileReader(leaves)
    for tile in (Tile(0, 0), Tile(0, 1, 44), Tile(0, 1, 3), Tile(1, 0, 1)):
        response = api.call("verify", "GET", f"/log/{tile.path()}")
        assert response.status_code == 200, tile
        assert response.data == reference.read_tiles([tile])[0]
    assert api.call("verify", "GET", "/log/tile/1/000.p/1").data == root(leaves[:256])


@pytest.mark.parametrize(
    "path",
    [
        "/log/tile/0/001",  # not full yet
        "/log/tile/0/001.p/45",  # beyond the log
        "/log/tile/2/000.p/1",
        "/log/tile/0/0001",  # not canonical
        "/log/tile/0/000.p/256",
        "/log/tile/entries/x000/001",
        "/log/tile/data/000",
        "/log/checkpoints",
    ],
)
def test_resources_the_log_does_not_have_are_404(api: Api, path: str) -> None:
    _fill(api, 300)
    assert_problem(api.call("verify", "GET", path), 404, "not-found")


def test_tiles_need_a_read_token_of_the_tenant(api: Api, other_api: Api) -> None:
    _fill(api, 256)
    assert api.call("verify", "GET", "/log/tile/0/000", auth=False).status_code == 401
    # Another tenant's token sees its own (empty) log.
    assert other_api.call("verify", "GET", "/log/tile/0/000").status_code == 404
