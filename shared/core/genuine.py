"""Which stored records are genuine: content proven by its seal, and columns that agree.

A stored row has two parts a DBA can edit: the seal (canonical bytes, leaf hash, chain
hash, signature, key id) and the columns beside it. ``genuine_content`` proves the seal
alone — the leaf hash is the hash of the bytes, the bytes are a v1 record, the key is
trusted and the signature covers this leaf, chain hash and the position the bytes name —
and returns the content the bytes say. ``columns_agree`` then proves every column equals
that content, so rows selected or filtered by a column are what they claim to be.
``verified_content`` is both: what the service builds on and serves.

Because the first step depends only on the seal, its result can be remembered per seal
(the service's ``RecordGuard`` does); the second is cheap and runs every time.

Example::

    record = verified_content(stored, trusted_keys)   # or VerificationError(check=..., seq=...)
    assert record.data == RecordContent.from_canonical(stored.canonical).data
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import digests_equal, leaf_hash
from shared.core.records import RecordContent, Seal, VersionRecord, signature_statement
from shared.core.signing import PublicKey


def genuine_content(
    seal: Seal, trusted_keys: Mapping[str, PublicKey], *, seq: int | None = None
) -> RecordContent:
    """The content ``seal`` proves, or VerificationError naming the failed check.

    ``seq`` (the row's stored position) only labels the error. Checks, in order:
    leaf_hash, content (the bytes are a v1 record), key, signature.
    """
    where = f"record seq {seq}" if seq is not None else "record"
    computed = leaf_hash(seal.canonical)
    if not digests_equal(computed, seal.leaf_hash):
        raise VerificationError(
            f"{where}: leaf hash does not match the canonical bytes",
            check="leaf_hash",
            seq=seq,
            expected=computed.hex(),
            found=seal.leaf_hash.hex(),
        )
    try:
        content = RecordContent.from_canonical(seal.canonical)
    except InputError as exc:
        raise VerificationError(
            f"{where}: stored bytes are not a v1 record: {exc.detail}", check="content", seq=seq
        ) from exc
    key = trusted_keys.get(seal.key_id)
    if key is None:
        raise VerificationError(
            f"{where}: key {seal.key_id} is not a trusted signing key",
            check="key",
            seq=seq,
            expected=sorted(trusted_keys),
            found=seal.key_id,
        )
    statement = signature_statement(content, seal.leaf_hash, seal.chain_hash, seal.key_id)
    try:
        key.verify(statement, seal.signature)
    except VerificationError as exc:
        raise VerificationError(
            f"{where}: signature does not verify with key {seal.key_id}",
            check="signature",
            seq=seq,
        ) from exc
    return content


def _same(a: object, b: object) -> bool:
    """JSON equality as canonical bytes see it: numbers by value, everything else by
    type and value (so True is not 1, and "1" is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def columns_agree(record: VersionRecord, content: RecordContent) -> None:
    """Raise VerificationError(check="content") unless every column equals ``content``."""
    stored, signed = record.content_json(), content.content_json()
    differing = [name for name in signed if not _same(stored[name], signed[name])]
    if differing:
        raise VerificationError(
            f"record seq {record.seq}: record columns differ from the signed content: "
            + ", ".join(differing),
            check="content",
            seq=record.seq,
        )


def verified_content(record: VersionRecord, trusted_keys: Mapping[str, PublicKey]) -> VersionRecord:
    """``record`` as its proven canonical bytes say it, once its columns agree with them."""
    content = genuine_content(record.seal, trusted_keys, seq=record.seq)
    columns_agree(record, content)
    return VersionRecord.of(content, record.seal)
