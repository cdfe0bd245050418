from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import leaf_hash, node_hash, sha256
from shared.core.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

MERKLE = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "merkle_rfc6962.json").read_text("utf-8")
)

# --- an independent, deliberately naive transcription of RFC 9162 §2.1 -----------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return sha256(b"")
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(naive_mth(d[:k]), naive_mth(d[k:]))


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# --- known answers -----------------------------------------------------------------------


def test_rfc6962_roots() -> None:
    hashes = [bytes.fromhex(h) for h in MERKLE["leaf_hashes_hex"]]
    for size, expected in enumerate(MERKLE["root_hashes_hex"]):
        assert root(hashes[:size]).hex() == expected


def test_empty_root() -> None:
    assert EMPTY_ROOT.hex() == MERKLE["root_hashes_hex"][0]
    assert root([]) == EMPTY_ROOT


# --- exhaustive small trees ----------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_inclusion_all_indices(n: int) -> None:
    d = leaves(n)
    tree_root = root(d)
    assert tree_root == naive_mth(d)
    for m in range(n):
        proof = inclusion_proof(m, d)
        assert proof == naive_path(m, d)
        verify_inclusion(index=m, tree_size=n, leaf_hash=d[m], proof=proof, root=tree_root)


@pytest.mark.parametrize("n", range(1, 65))
def test_consistency_all_first_sizes(n: int) -> None:
    d = leaves(n)
    second = root(d)
    for m in range(1, n + 1):
        proof = consistency_proof(m, d)
        assert proof == (naive_subproof(m, d, True) if m < n else [])
        verify_consistency(
            first_size=m, second_size=n, first_root=root(d[:m]), second_root=second, proof=proof
        )


@settings(max_examples=40, deadline=None)
@given(st.integers(65, 3000), st.data())
def test_random_larger_trees(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    tree_root = root(d)
    assert tree_root == naive_mth(d)
    m = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(m, d)
    assert proof == naive_path(m, d)
    verify_inclusion(index=m, tree_size=n, leaf_hash=d[m], proof=proof, root=tree_root)
    first = data.draw(st.integers(1, n))
    cproof = consistency_proof(first, d)
    verify_consistency(
        first_size=first,
        second_size=n,
        first_root=root(d[:first]),
        second_root=tree_root,
        proof=cproof,
    )


# --- negative cases ------------------------------------------------------------------


def _inclusion_case(n: int = 13, m: int = 6) -> tuple[list[bytes], list[bytes], bytes]:
    d = leaves(n)
    return d, inclusion_proof(m, d), root(d)


def test_inclusion_tampered_proof_hash() -> None:
    d, proof, r = _inclusion_case()
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = sha256(bad[i])
        with pytest.raises(VerificationError) as info:
            verify_inclusion(index=6, tree_size=13, leaf_hash=d[6], proof=bad, root=r)
        assert info.value.check == "inclusion"
        assert info.value.expected == r.hex()
        assert info.value.found != r.hex()


@pytest.mark.parametrize(
    ("index", "size", "leaf_no", "root_delta", "proof_edit"),
    [
        (5, 13, 6, False, None),  # wrong index
        (7, 13, 6, False, None),  # wrong index
        # Wrong sizes. Sizes whose proof has the same shape (9..16 here) verify too: the
        # root binds the tree, and the signed checkpoint binds the root to its size.
        (6, 8, 6, False, None),
        (6, 17, 6, False, None),
        (6, 13, 7, False, None),  # wrong leaf
        (6, 13, 6, True, None),  # wrong root
        (6, 13, 6, False, "truncate"),
        (6, 13, 6, False, "extend"),
        (6, 13, 6, False, "empty"),
        (13, 13, 6, False, None),  # index outside tree
        (-1, 13, 6, False, None),
        (0, 0, 6, False, None),
    ],
)
def test_inclusion_rejects(
    index: int, size: int, leaf_no: int, root_delta: bool, proof_edit: str | None
) -> None:
    d, proof, r = _inclusion_case()
    if proof_edit == "truncate":
        proof = proof[:-1]
    elif proof_edit == "extend":
        proof = [*proof, sha256(b"extra")]
    elif proof_edit == "empty":
        proof = []
    if root_delta:
        r = sha256(r)
    with pytest.raises(VerificationError) as info:
        verify_inclusion(index=index, tree_size=size, leaf_hash=d[leaf_no], proof=proof, root=r)
    assert info.value.check == "inclusion"


def test_inclusion_rejects_wrong_length_hashes() -> None:
    d, proof, r = _inclusion_case()
    with pytest.raises(VerificationError):
        verify_inclusion(index=6, tree_size=13, leaf_hash=d[6][:31], proof=proof, root=r)
    with pytest.raises(VerificationError):
        verify_inclusion(index=6, tree_size=13, leaf_hash=d[6], proof=proof, root=r + b"\x00")
    with pytest.raises(VerificationError):
        verify_inclusion(
            index=6, tree_size=13, leaf_hash=d[6], proof=[proof[0][:16], *proof[1:]], root=r
        )


def test_single_leaf_tree() -> None:
    d = leaves(1)
    assert inclusion_proof(0, d) == []
    verify_inclusion(index=0, tree_size=1, leaf_hash=d[0], proof=[], root=d[0])
    with pytest.raises(VerificationError):
        verify_inclusion(index=0, tree_size=1, leaf_hash=d[0], proof=[d[0]], root=d[0])


def test_proof_construction_rejects_bad_arguments() -> None:
    d = leaves(5)
    with pytest.raises(InputError):
        inclusion_proof(5, d)
    with pytest.raises(InputError):
        inclusion_proof(-1, d)
    with pytest.raises(InputError):
        consistency_proof(6, d)
    with pytest.raises(InputError):
        consistency_proof(-1, d)
    assert consistency_proof(0, d) == []
    assert consistency_proof(5, d) == []


def _consistency_case() -> tuple[list[bytes], list[bytes]]:
    d = leaves(21)
    return d, consistency_proof(7, d)


def test_consistency_tampered_hash() -> None:
    d, proof = _consistency_case()
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = sha256(bad[i])
        with pytest.raises(VerificationError) as info:
            verify_consistency(
                first_size=7,
                second_size=21,
                first_root=root(d[:7]),
                second_root=root(d),
                proof=bad,
            )
        assert info.value.check == "consistency"


@pytest.mark.parametrize(
    ("first", "second", "first_root_size", "second_root_size", "edit"),
    [
        (6, 21, 7, 21, None),  # wrong first size
        (8, 21, 7, 21, None),
        (7, 16, 7, 21, None),  # wrong second size (17..32 share the proof shape)
        (7, 33, 7, 21, None),
        (7, 21, 6, 21, None),  # wrong first root
        (7, 21, 7, 20, None),  # wrong second root
        (7, 21, 7, 21, "truncate"),
        (7, 21, 7, 21, "extend"),
        (7, 21, 7, 21, "empty"),
        (22, 21, 7, 21, None),  # first after second
        (-1, 21, 7, 21, None),
    ],
)
def test_consistency_rejects(
    first: int, second: int, first_root_size: int, second_root_size: int, edit: str | None
) -> None:
    d, proof = _consistency_case()
    d = leaves(22)
    proof = consistency_proof(7, d[:21])
    if edit == "truncate":
        proof = proof[:-1]
    elif edit == "extend":
        proof = [*proof, sha256(b"extra")]
    elif edit == "empty":
        proof = []
    with pytest.raises(VerificationError) as info:
        verify_consistency(
            first_size=first,
            second_size=second,
            first_root=root(d[:first_root_size]),
            second_root=root(d[:second_root_size]),
            proof=proof,
        )
    assert info.value.check == "consistency"


def test_consistency_power_of_two_first_size_uses_first_root() -> None:
    d = leaves(10)
    proof = consistency_proof(4, d)
    verify_consistency(
        first_size=4, second_size=10, first_root=root(d[:4]), second_root=root(d), proof=proof
    )
    with pytest.raises(VerificationError):
        verify_consistency(
            first_size=4,
            second_size=10,
            first_root=sha256(b"x"),
            second_root=root(d),
            proof=proof,
        )


def test_consistency_trivial_sizes() -> None:
    d = leaves(9)
    # Like verify.go: the empty tree is a prefix of every tree, so a "proof" from size 0
    # proves nothing and is refused rather than waved through.
    with pytest.raises(VerificationError, match="0 < first size"):
        verify_consistency(
            first_size=0, second_size=9, first_root=EMPTY_ROOT, second_root=root(d), proof=[]
        )
    verify_consistency(
        first_size=9, second_size=9, first_root=root(d), second_root=root(d), proof=[]
    )
    with pytest.raises(VerificationError):
        verify_consistency(
            first_size=9, second_size=9, first_root=root(d), second_root=root(d[:8]), proof=[]
        )
    with pytest.raises(VerificationError):
        verify_consistency(
            first_size=9, second_size=9, first_root=root(d), second_root=root(d), proof=[d[0]]
        )
    with pytest.raises(VerificationError):
        verify_consistency(
            first_size=0, second_size=9, first_root=root(d), second_root=root(d), proof=[]
        )


# --- accumulator and efficiency ------------------------------------------------------


def test_accumulator_matches_root_for_every_size() -> None:
    d = leaves(300)
    acc = MerkleAccumulator()
    assert acc.size == 0
    assert acc.root() == EMPTY_ROOT
    for n in range(1, 301):
        acc.append(d[n - 1])
        assert acc.size == n
        assert acc.root() == root(d[:n]), n


def test_accumulator_memory_is_logarithmic() -> None:
    acc = MerkleAccumulator()
    for leaf in leaves(1023):
        acc.append(leaf)
    assert len(acc._stack) == 10  # one subtree root per set bit of 1023


def test_accumulator_rejects_non_digest() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleAccumulator().append(b"short")


def test_large_tree_is_fast() -> None:
    d = leaves(100_000)
    started = time.perf_counter()
    r = root(d)
    proof = inclusion_proof(77_777, d)
    cproof = consistency_proof(65_537, d)
    elapsed = time.perf_counter() - started
    verify_inclusion(index=77_777, tree_size=100_000, leaf_hash=d[77_777], proof=proof, root=r)
    verify_consistency(
        first_size=65_537,
        second_size=100_000,
        first_root=root(d[:65_537]),
        second_root=r,
        proof=cproof,
    )
    # Each of the three is O(n) hashing; quadratic work would take minutes here. The
    # bound is loose so a slow CI machine does not make this flaky.
    assert elapsed < 3.0


def test_accumulator_resumes_from_its_frontier() -> None:
    """Any prefix's frontier plus the remaining leaves gives the same roots."""
    leaves = [leaf_hash(str(i).encode()) for i in range(70)]
    for split in range(len(leaves) + 1):
        head = MerkleAccumulator()
        for leaf in leaves[:split]:
            head.append(leaf)
        resumed = MerkleAccumulator.from_frontier(split, head.frontier)
        assert resumed.root() == root(leaves[:split])
        for leaf in leaves[split:]:
            resumed.append(leaf)
        assert resumed.size == len(leaves)
        assert resumed.root() == root(leaves)


@pytest.mark.parametrize(("size", "digests"), [(3, 1), (3, 3), (4, 2), (1, 0), (-1, 0)])
def test_a_malformed_frontier_is_refused(size: int, digests: int) -> None:
    with pytest.raises(ValueError, match="frontier"):
        MerkleAccumulator.from_frontier(size, b"\x01" * (32 * digests))
