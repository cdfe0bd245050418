from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.hashing import (
    CHAIN_DOMAIN,
    GENESIS_CHAIN_HASH,
    HASH_SIZE,
    LEAF_PREFIX,
    NODE_PREFIX,
    chain_hash,
    digests_equal,
    leaf_hash,
    node_hash,
    sha256,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "hashing.json").read_text("utf-8")
)
MERKLE = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "merkle_rfc6962.json").read_text("utf-8")
)


def test_constants() -> None:
    assert HASH_SIZE == 32
    assert LEAF_PREFIX == b"\x00"
    assert NODE_PREFIX == b"\x01"
    assert CHAIN_DOMAIN == b"plant-registry/chain/v1\x00"
    assert GENESIS_CHAIN_HASH == b"\x00" * 32


@pytest.mark.parametrize("case", VECTORS["sha256"])
def test_sha256_known_answers(case: dict[str, str]) -> None:
    assert sha256(bytes.fromhex(case["input_hex"])).hex() == case["digest_hex"]


@pytest.mark.parametrize("case", VECTORS["leaf_hash"])
def test_leaf_hash_known_answers(case: dict[str, str]) -> None:
    assert leaf_hash(bytes.fromhex(case["entry_hex"])).hex() == case["digest_hex"]


@pytest.mark.parametrize(
    ("entry", "digest"),
    list(zip(MERKLE["leaf_inputs_hex"], MERKLE["leaf_hashes_hex"], strict=True)),
)
def test_leaf_hash_rfc6962_vectors(entry: str, digest: str) -> None:
    assert leaf_hash(bytes.fromhex(entry)).hex() == digest


def test_node_hash_rfc6962_vector() -> None:
    leaves = [bytes.fromhex(h) for h in MERKLE["leaf_hashes_hex"]]
    assert node_hash(leaves[0], leaves[1]).hex() == MERKLE["root_hashes_hex"][2]


@pytest.mark.parametrize("case", VECTORS["chain_hash"])
def test_chain_hash_known_answers(case: dict[str, str]) -> None:
    digest = chain_hash(bytes.fromhex(case["previous_hex"]), bytes.fromhex(case["leaf_hex"]))
    assert digest.hex() == case["digest_hex"]


def test_domains_are_separated() -> None:
    a, b = sha256(b"a"), sha256(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)
    assert chain_hash(a, b) != node_hash(a, b)
    assert chain_hash(a, b) != sha256(a + b)
    assert chain_hash(a, b) != chain_hash(b, a)


@pytest.mark.parametrize(("previous", "leaf"), [(b"\x00" * 31, b"\x00" * 32), (bytes(32), b"")])
def test_chain_hash_requires_digests(previous: bytes, leaf: bytes) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        chain_hash(previous, leaf)


def test_digests_equal() -> None:
    assert digests_equal(sha256(b"x"), sha256(b"x"))
    assert not digests_equal(sha256(b"x"), sha256(b"y"))
    assert not digests_equal(sha256(b"x"), sha256(b"x")[:31])
