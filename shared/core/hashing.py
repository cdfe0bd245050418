"""Domain-separated SHA-256 hashing for the Merkle log and the per-tenant hash chain.

Leaves and interior nodes use the RFC 9162 (Certificate Transparency v2) prefixes so a
leaf can never be passed off as a node; the chain uses its own versioned domain string.

Example::

    >>> leaf = leaf_hash(b'{"a":1}')
    >>> leaf == sha256(bytes([0]) + b'{"a":1}')       # RFC 9162 leaf prefix 0x00
    True
    >>> head = chain_hash(GENESIS_CHAIN_HASH, leaf)
    >>> digests_equal(head, chain_hash(GENESIS_CHAIN_HASH, leaf))
    True
"""

from __future__ import annotations

import hashlib
import hmac

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# The NUL terminator makes the domain prefix-free: no other domain string can be a
# prefix of this one followed by hash bytes.
CHAIN_DOMAIN = b"plant-registry/chain/v1\x00"
GENESIS_CHAIN_HASH = bytes(HASH_SIZE)


def sha256(data: bytes) -> bytes:
    """Plain SHA-256 digest."""
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """Next chain head: SHA-256(CHAIN_DOMAIN ‖ previous ‖ leaf).

    Both inputs must be 32-byte digests; anything else is a programming error, and
    hashing it anyway would make the chain ambiguous.
    """
    if len(previous) != HASH_SIZE or len(leaf) != HASH_SIZE:
        raise ValueError(
            f"chain_hash needs two {HASH_SIZE}-byte digests, "
            f"got {len(previous)} and {len(leaf)} bytes"
        )
    return hashlib.sha256(CHAIN_DOMAIN + previous + leaf).digest()


def digests_equal(a: bytes, b: bytes) -> bool:
    """Compare two digests in constant time (no early exit leaks a matching prefix)."""
    return hmac.compare_digest(a, b)
