"""RFC 9162 §2.1 Merkle tree hashes, inclusion and consistency proofs, over leaf hashes.

Every function takes *leaf hashes* (``hashing.leaf_hash`` of the canonical bytes), not
the entries themselves, because that is what the repository stores.

Example::

    >>> from shared.core.hashing import leaf_hash
    >>> leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
    >>> proof = inclusion_proof(1, leaves)
    >>> verify_inclusion(index=1, tree_size=3, leaf_hash=leaves[1], proof=proof,
    ...                  root=root(leaves))
    >>> old = root(leaves[:2])
    >>> verify_consistency(first_size=2, second_size=3, first_root=old,
    ...                    second_root=root(leaves), proof=consistency_proof(2, leaves))
    >>> acc = MerkleAccumulator()
    >>> for leaf in leaves:
    ...     acc.append(leaf)
    >>> acc.root() == root(leaves)
    True

A proof is a list of subtree hashes, and *which* subtrees it needs depends only on the
index and the sizes. ``inclusion_ranges`` and ``consistency_ranges`` answer that
question with index arithmetic alone, so the same plan serves an in-memory list of
leaves (here) and a tiled log that reads only the O(log n) tiles holding those subtrees
(``shared.core.tiles``).

Verification is written the way transparency-dev/merkle's ``proof/verify.go`` writes it:
the proof is split where the paths to the leaf and to the last leaf diverge into an
*inner* part (siblings on either side) and a *border* part (left siblings only), and
three small chain functions fold them. Its published test data runs in
``tests/unit/test_core_merkle_vectors.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE, digests_equal, node_hash, sha256

EMPTY_ROOT = sha256(b"")

# A half-open range [start, end) of leaf indexes whose Merkle tree hash a proof carries.
LeafRange = tuple[int, int]


def _largest_power_of_two_below(n: int) -> int:
    """The RFC's k: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- which subtrees a proof needs ------------------------------------------------------


def _path_ranges(index: int, start: int, end: int, out: list[LeafRange]) -> None:
    # RFC 9162 §2.1.3.1 PATH(m, D[start:end]), emitting ranges instead of hashes.
    if end - start <= 1:
        return
    k = _largest_power_of_two_below(end - start)
    if index < start + k:
        _path_ranges(index, start, start + k, out)
        out.append((start + k, end))
    else:
        _path_ranges(index, start + k, end, out)
        out.append((start, start + k))


def inclusion_ranges(index: int, tree_size: int) -> list[LeafRange]:
    """The leaf ranges whose hashes form the audit path of ``index``, lowest first."""
    if not 0 <= index < tree_size:
        raise InputError(
            f"leaf index {index} is outside a tree of size {tree_size}", path="$.leaf_index"
        )
    out: list[LeafRange] = []
    _path_ranges(index, 0, tree_size, out)
    return out


def _subproof_ranges(m: int, start: int, end: int, complete: bool, out: list[LeafRange]) -> None:
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b), emitting ranges.
    if start + m == end:
        if not complete:
            out.append((start, end))
        return
    k = _largest_power_of_two_below(end - start)
    if m <= k:
        _subproof_ranges(m, start, start + k, complete, out)
        out.append((start + k, end))
    else:
        _subproof_ranges(m - k, start + k, end, False, out)
        out.append((start, start + k))


def consistency_ranges(first_size: int, second_size: int) -> list[LeafRange]:
    """The leaf ranges whose hashes prove tree ``first_size`` is a prefix of the second.

    Empty when ``first_size`` is 0 or equals ``second_size`` (nothing to prove).
    """
    if not 0 <= first_size <= second_size:
        raise InputError(
            f"first size {first_size} is outside 0..{second_size}", path="$.first_size"
        )
    out: list[LeafRange] = []
    if first_size not in (0, second_size):
        _subproof_ranges(first_size, 0, second_size, True, out)
    return out


# --- hashes over an in-memory list of leaves ---------------------------------------------


def range_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) computed bottom-up.

    Pairing neighbours level by level and carrying an odd last node up unchanged builds
    exactly the RFC's left-balanced tree, without recursion.
    """
    if start == end:
        return EMPTY_ROOT
    level = list(leaf_hashes[start:end])
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the whole sequence (EMPTY_ROOT for no leaves)."""
    return range_root(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of all ``leaf_hashes``.

    The ranges are disjoint, so every leaf is hashed at most once: O(n) in all.
    """
    ranges = inclusion_ranges(index, len(leaf_hashes))
    return [range_root(leaf_hashes, start, end) for start, end in ranges]


def consistency_proof(first_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree of the first ``first_size`` leaves is a prefix of the whole."""
    ranges = consistency_ranges(first_size, len(leaf_hashes))
    return [range_root(leaf_hashes, start, end) for start, end in ranges]


# --- verification, after transparency-dev/merkle proof/verify.go -------------------------


def _check_digest(value: bytes, check: str, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(
            f"{what} is {len(value)} bytes, not {HASH_SIZE}", check=check, found=value.hex()
        )


def _decompose_inclusion_proof(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the audit path of ``index`` in ``size``.

    The split is the level where the paths to ``index`` and to the last leaf diverge:
    below it siblings sit on either side, above it only left siblings remain.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Fold siblings on either side, chosen by the bits of ``index`` (lowest level first)."""
    for level, sibling in enumerate(proof):
        is_left_child = (index >> level) & 1 == 0
        seed = node_hash(seed, sibling) if is_left_child else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like ``_chain_inner`` but only left siblings: the subtree as it was earlier."""
    for level, sibling in enumerate(proof):
        if (index >> level) & 1 == 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold the border part: every hash is a left sibling."""
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _mismatch(check: str, detail: str, expected: bytes, computed: bytes) -> None:
    if not digests_equal(computed, expected):
        raise VerificationError(detail, check=check, expected=expected.hex(), found=computed.hex())


def root_from_inclusion_proof(
    *, index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` leads to from ``leaf_hash``; VerificationError if malformed."""
    check = "inclusion"
    if not 0 <= index < tree_size:
        raise VerificationError(
            f"leaf index {index} is outside a tree of size {tree_size}", check=check
        )
    _check_digest(leaf_hash, check, "leaf hash")
    for sibling in proof:
        _check_digest(sibling, check, "proof hash")
    inner, border = _decompose_inclusion_proof(index, tree_size)
    if len(proof) != inner + border:
        raise VerificationError(
            f"proof has {len(proof)} hashes; index {index} in a tree of size {tree_size} "
            f"needs {inner + border}",
            check=check,
        )
    computed = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(computed, proof[inner:])


def verify_inclusion(
    *, index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an audit path (RFC 9162 §2.1.3.2); raise VerificationError if it fails."""
    check = "inclusion"
    _check_digest(root, check, "root hash")
    computed = root_from_inclusion_proof(
        index=index, tree_size=tree_size, leaf_hash=leaf_hash, proof=proof
    )
    _mismatch(
        check, f"inclusion proof for index {index} does not lead to the tree root", root, computed
    )


def root_from_consistency_proof(
    *, first_size: int, second_size: int, first_root: bytes, proof: Sequence[bytes]
) -> bytes:
    """The second root that ``proof`` leads to, after checking it reproduces ``first_root``.

    Requires 0 < first_size <= second_size: a proof from the empty tree is meaningless
    (the empty tree is a prefix of every tree), so it is refused like verify.go does.
    """
    check = "consistency"
    if not 0 < first_size <= second_size:
        raise VerificationError(
            f"need 0 < first size <= second size, got {first_size} and {second_size}",
            check=check,
        )
    # Roots are not length-checked, like verify.go: a root of the wrong length can never
    # equal a computed one, and two equal sizes only need two equal roots.
    for item in proof:
        _check_digest(item, check, "proof hash")
    if first_size == second_size:
        if proof:
            raise VerificationError("proof must be empty for equal sizes", check=check)
        return first_root
    if not proof:
        raise VerificationError("consistency proof is empty", check=check)

    # The proof begins at the root of the largest perfect subtree that ends at
    # first_size, and continues with that node's audit path in the second tree.
    inner, border = _decompose_inclusion_proof(first_size - 1, second_size)
    shift = (first_size & -first_size).bit_length() - 1
    inner -= shift
    # A power-of-two first tree *is* that subtree; the verifier already knows its root.
    if first_size == 1 << shift:
        seed, rest = first_root, proof
    else:
        seed, rest = proof[0], proof[1:]
    if len(rest) != inner + border:
        raise VerificationError(
            f"proof has {len(proof)} hashes; sizes {first_size} and {second_size} need "
            f"{len(proof) - len(rest) + inner + border}",
            check=check,
        )
    mask = (first_size - 1) >> shift
    computed_first = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _mismatch(
        check,
        f"proof does not lead to the root of the first {first_size} leaves",
        first_root,
        computed_first,
    )
    return _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])


def verify_consistency(
    *,
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise VerificationError if it fails."""
    computed = root_from_consistency_proof(
        first_size=first_size, second_size=second_size, first_root=first_root, proof=proof
    )
    _mismatch(
        "consistency",
        f"proof does not lead to the root of the first {second_size} leaves",
        second_root,
        computed,
    )


class MerkleAccumulator:
    """Streaming Merkle root: keeps one subtree root per set bit of the size (O(log n)).

    The streaming audit appends leaf hashes in log order and compares ``root()`` with
    each stored checkpoint as the size reaches it.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        # Roots of perfect subtrees, largest (leftmost) first; their sizes are the set
        # bits of _size from the highest down.
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        node = leaf_hash
        size = self._size
        # Each trailing one bit of the old size is a same-sized subtree to merge with.
        while size & 1:
            node = node_hash(self._stack.pop(), node)
            size >>= 1
        self._stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result

    @property
    def frontier(self) -> bytes:
        """The subtree roots, largest first, concatenated: all a later append needs.

        Stored beside a checkpoint, it lets the next checkpoint's root be computed from
        the new leaves alone, O(new + log size) instead of O(size).
        """
        return b"".join(self._stack)

    @classmethod
    def from_frontier(cls, size: int, frontier: bytes) -> MerkleAccumulator:
        """Resume a tree of ``size`` leaves from its ``frontier``; ValueError if malformed."""
        if size < 0 or len(frontier) != HASH_SIZE * bin(size).count("1"):
            raise ValueError(
                f"a frontier for {size} leaves holds {bin(max(size, 0)).count('1')} "
                f"digests, not {len(frontier) / HASH_SIZE:g}"
            )
        accumulator = cls()
        accumulator._size = size
        accumulator._stack = [
            frontier[i : i + HASH_SIZE] for i in range(0, len(frontier), HASH_SIZE)
        ]
        return accumulator
