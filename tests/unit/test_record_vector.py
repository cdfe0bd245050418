"""The golden vector of the v1 record format (tests/vectors/record_v1.json).

The vector's values were derived with jq and the OpenSSL CLI (see tests/vectors/README.md),
not with this code; these tests pin that our one record model reproduces them, so any
change to the canonical form, the hash layout or the signature statement fails here.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.errors import VerificationError
from shared.core.hashing import GENESIS_CHAIN_HASH, chain_hash, leaf_hash
from shared.core.records import RecordContent, VersionRecord, content_bytes, seal_records
from shared.core.signing import LocalSigner
from shared.core.verification import verify_record

VECTOR = json.loads((Path(__file__).parent.parent / "vectors" / "record_v1.json").read_text())


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    seed = bytes.fromhex(VECTOR["key"]["private_key_seed_hex"])
    return LocalSigner.from_private_key(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def _contents() -> list[RecordContent]:
    return [RecordContent.content_from_json(item["content"]) for item in VECTOR["records"]]


def _records(signer: LocalSigner) -> list[VersionRecord]:
    return seal_records(_contents(), previous_chain_hash=GENESIS_CHAIN_HASH, signer=signer)


def test_the_key_is_the_published_one(signer: LocalSigner) -> None:
    public = signer.public_key
    assert public.key_id == VECTOR["key"]["key_id"]
    assert public.algorithm == VECTOR["key"]["algorithm"]
    raw = base64.b64decode(b"".join(public.pem.splitlines()[1:-1]))[-32:]
    assert raw.hex() == VECTOR["key"]["public_key_hex"]


@pytest.mark.parametrize("index", range(len(VECTOR["records"])))
def test_each_step_reproduces_the_vector(signer: LocalSigner, index: int) -> None:
    expected: dict[str, Any] = VECTOR["records"][index]
    content = _contents()[index]
    canonical = content_bytes(content)
    assert canonical == expected["canonical"].encode("utf-8")
    leaf = leaf_hash(canonical)
    assert leaf.hex() == expected["leaf_hash"]
    chain = chain_hash(bytes.fromhex(expected["previous_chain_hash"]), leaf)
    assert chain.hex() == expected["chain_hash"]
    record = _records(signer)[index]
    assert (record.canonical, record.leaf_hash, record.chain_hash) == (canonical, leaf, chain)
    assert record.signed_statement() == expected["statement"].encode("utf-8")
    assert base64.b64encode(record.signature).decode() == expected["signature"]
    assert RecordContent.from_canonical(canonical) == content


def test_the_vector_records_verify_and_altered_ones_do_not(signer: LocalSigner) -> None:
    trusted = {signer.key_id: signer.public_key}
    first, second = _records(signer)
    verify_record(first, previous_chain_hash=GENESIS_CHAIN_HASH, trusted_keys=trusted)
    verify_record(second, previous_chain_hash=first.chain_hash, trusted_keys=trusted)
    for altered, check in (
        (dataclasses.replace(second, status="deprecated"), "content"),
        (dataclasses.replace(second, signature=bytes(64)), "signature"),
        (
            dataclasses.replace(second, canonical=second.canonical.replace(b"Z\xc3\xbc", b"Zu")),
            "content",
        ),
    ):
        with pytest.raises(VerificationError) as info:
            verify_record(altered, previous_chain_hash=first.chain_hash, trusted_keys=trusted)
        assert info.value.check == check
