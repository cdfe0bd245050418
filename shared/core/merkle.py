"""RFC 9162 §2.1 Merkle tree hashes, inclusion and consistency proofs, over leaf hashes.

Every function takes *leaf hashes* (``hashing.leaf_hash`` of the canonical bytes), not
the entries themselves, because that is what the repository stores.

Example::

    leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
    proof = inclusion_proof(1, leaves)
    verify_inclusion(index=1, tree_size=3, leaf_hash=leaves[1], proof=proof,
                     root=root(leaves))
    old = root(leaves[:2])
    verify_consistency(first_size=2, second_size=3, first_root=old,
                       second_root=root(leaves), proof=consistency_proof(2, leaves))

    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.append(leaf)
    assert acc.root() == root(leaves)

Proof construction follows the RFC's recursive definitions but on index ranges, so each
call hashes every leaf at most once (O(n)) and never copies quadratic amounts of data.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE, digests_equal, node_hash, sha256

EMPTY_ROOT = sha256(b"")


def _largest_power_of_two_below(n: int) -> int:
    """The RFC's k: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
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
    return _range_root(leaf_hashes, 0, len(leaf_hashes))


def _path(index: int, leaf_hashes: Sequence[bytes], start: int, end: int) -> list[bytes]:
    # RFC 9162 §2.1.3.1 PATH(m, D[n]); the recursion depth is log2(n).
    if end - start <= 1:
        return []
    k = _largest_power_of_two_below(end - start)
    if index < k:
        proof = _path(index, leaf_hashes, start, start + k)
        proof.append(_range_root(leaf_hashes, start + k, end))
    else:
        proof = _path(index - k, leaf_hashes, start + k, end)
        proof.append(_range_root(leaf_hashes, start, start + k))
    return proof


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of all ``leaf_hashes``."""
    if not 0 <= index < len(leaf_hashes):
        raise InputError(
            f"leaf index {index} is outside a tree of size {len(leaf_hashes)}",
            path="$.leaf_index",
        )
    return _path(index, leaf_hashes, 0, len(leaf_hashes))


def _subproof(
    m: int, leaf_hashes: Sequence[bytes], start: int, end: int, complete: bool
) -> list[bytes]:
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), with D[n] = leaf_hashes[start:end].
    n = end - start
    if m == n:
        return [] if complete else [_range_root(leaf_hashes, start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        proof = _subproof(m, leaf_hashes, start, start + k, complete)
        proof.append(_range_root(leaf_hashes, start + k, end))
    else:
        proof = _subproof(m - k, leaf_hashes, start + k, end, False)
        proof.append(_range_root(leaf_hashes, start, start + k))
    return proof


def consistency_proof(first_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree of the first ``first_size`` leaves is a prefix of the whole.

    Empty when ``first_size`` is 0 or equals the tree size (nothing to prove).
    """
    second_size = len(leaf_hashes)
    if not 0 <= first_size <= second_size:
        raise InputError(
            f"first size {first_size} is outside 0..{second_size}", path="$.first_size"
        )
    if first_size in (0, second_size):
        return []
    return _subproof(first_size, leaf_hashes, 0, second_size, True)


def _check_digest(value: bytes, check: str, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(
            f"{what} is {len(value)} bytes, not {HASH_SIZE}", check=check, found=value.hex()
        )


def verify_inclusion(
    *, index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an audit path (RFC 9162 §2.1.3.2); raise VerificationError if it fails."""
    check = "inclusion"
    if not 0 <= index < tree_size:
        raise VerificationError(
            f"leaf index {index} is outside a tree of size {tree_size}",
            check=check,
            expected=root.hex(),
        )
    _check_digest(leaf_hash, check, "leaf hash")
    _check_digest(root, check, "root hash")
    fn, sn, computed = index, tree_size - 1, leaf_hash
    for sibling in proof:
        _check_digest(sibling, check, "proof hash")
        if sn == 0:
            raise VerificationError(
                f"proof has more than the expected hashes for index {index} "
                f"in a tree of size {tree_size}",
                check=check,
                expected=root.hex(),
            )
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            computed = node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(
            f"proof is too short for index {index} in a tree of size {tree_size}",
            check=check,
            expected=root.hex(),
            found=computed.hex(),
        )
    if not digests_equal(computed, root):
        raise VerificationError(
            f"inclusion proof for index {index} does not lead to the tree root",
            check=check,
            expected=root.hex(),
            found=computed.hex(),
        )


def verify_consistency(
    *,
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise VerificationError if it fails.

    Sizes 0 and equal sizes are accepted with an empty proof (and, for equal sizes,
    equal roots), matching what ``consistency_proof`` produces.
    """
    check = "consistency"
    if not 0 <= first_size <= second_size:
        raise VerificationError(
            f"first size {first_size} is not within 0..{second_size}", check=check
        )
    _check_digest(first_root, check, "first root")
    _check_digest(second_root, check, "second root")
    for item in proof:
        _check_digest(item, check, "proof hash")
    if first_size == 0 or first_size == second_size:
        if proof:
            raise VerificationError(
                "proof must be empty when the first tree is empty or equal to the second",
                check=check,
            )
        expected_first = EMPTY_ROOT if first_size == 0 else second_root
        if not digests_equal(first_root, expected_first):
            raise VerificationError(
                "first root does not match",
                check=check,
                expected=expected_first.hex(),
                found=first_root.hex(),
            )
        return
    if not proof:
        raise VerificationError("consistency proof is empty", check=check)

    path = list(proof)
    # A power-of-two first tree is a complete subtree of the second, so the proof omits
    # its root; the verifier supplies it.
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for item in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long", check=check)
        if fn & 1 or fn == sn:
            fr = node_hash(item, fr)
            sr = node_hash(item, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short", check=check)
    if not digests_equal(fr, first_root):
        raise VerificationError(
            f"proof does not lead to the root of the first {first_size} leaves",
            check=check,
            expected=first_root.hex(),
            found=fr.hex(),
        )
    if not digests_equal(sr, second_root):
        raise VerificationError(
            f"proof does not lead to the root of the first {second_size} leaves",
            check=check,
            expected=second_root.hex(),
            found=sr.hex(),
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
