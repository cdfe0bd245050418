"""What sign-only-verified-state costs for checkpoints (ADR 0008).

Each round signs a checkpoint over ``N`` records written since the previous one, three
ways, in the same session on the same server:

- ``verified``: the registry's own path (``Checkpointer``): the signer lock, the
  rollback comparison, every record read in full and verified (leaf hash, signature,
  columns, chain link), the tiles' root and consistency proof, sign, store. A fresh
  registry per round, so no record's verdict is cached (cold);
- ``verified, warm``: the same, by the registry that wrote the records, whose guard
  remembers the seals it made (what a write that makes a checkpoint due does);
- ``unverified``: the path as it was before ADR 0008: stored leaf and chain hashes read
  as two blobs, chain links checked, root accumulated from the frontier, signed;
- ``raw read``: the ``N`` rows read with pg8000 and nothing else.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from shared.core.checkpoints import sign_checkpoint
from shared.core.commands import parse_batch
from shared.core.hashing import chain_hash, digests_equal
from shared.core.merkle import MerkleAccumulator
from shared.core.principal import Principal
from shared.core.signing import LocalSigner
from shared.ledger import utc_now
from shared.service import Registry
from tests.conftest import ALL_SCOPES
from tests.performance.support import PAIRS, raw_connect, record_mean

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

SIZES = (100, 1000)
ROUNDS = 5
for n in SIZES:
    PAIRS[f"checkpoint over {n}: verified/unverified"] = (
        f"ckpt{n}_verified",
        f"ckpt{n}_unverified",
    )
    PAIRS[f"checkpoint over {n}: verified/raw read"] = (f"ckpt{n}_verified", f"ckpt{n}_raw")
    PAIRS[f"checkpoint over {n}: warm/unverified"] = (f"ckpt{n}_warm", f"ckpt{n}_unverified")
_names = itertools.count()


def _registry(engine: Engine, signer: LocalSigner) -> Registry:
    return Registry(engine, signer, {signer.key_id: signer.public_key}, checkpoint_every=0)


def _fresh_log(
    engine: Engine, signer: LocalSigner, n: int, *, warm: bool = False
) -> tuple[Registry, Principal]:
    """A tenant with one signed record and ``n`` unsigned ones after it, and a registry:
    the writer (``warm``) or a new process with nothing cached."""
    writer = _registry(engine, signer)
    owner = Principal("bench", f"bench-ckpt-{uuid.uuid4().hex[:10]}", ALL_SCOPES)
    writer.create(owner, parse_batch({"entities": [_industry()]}))
    writer.sign_checkpoint(owner)
    writer.create(owner, parse_batch({"entities": [_industry() for _ in range(n)]}))
    return (writer if warm else _registry(engine, signer)), owner


def _industry() -> dict[str, Any]:
    return {
        "entity_type": "Industry",
        "data": {"name": f"Industry {next(_names)}", "description": "bench"},
    }


def _unverified_sign(registry: Registry, owner: Principal) -> None:
    with registry.repository.tenant_transaction(owner.tenant_id) as tx:
        latest = tx.latest_checkpoint()
        assert latest is not None
        head = tx.head()
        accumulator = MerkleAccumulator.from_frontier(
            latest.tree_size, tx.frontier_at(latest.tree_size) or b""
        )
        leaves = tx.leaves(head.seq, after=latest.tree_size)
        previous = latest.chain_head
        for leaf, chain in zip(leaves.leaf_hashes, leaves.chain_hashes, strict=True):
            assert digests_equal(chain_hash(previous, leaf), chain)
            previous = chain
            accumulator.append(leaf)
        sign_checkpoint(
            tenant_id=owner.tenant_id,
            tree_size=accumulator.size,
            root_hash=accumulator.root(),
            chain_head=previous,
            created_at=utc_now().astimezone(UTC),
            signer=registry.signer,
        )


@pytest.mark.parametrize("n", SIZES)
def test_checkpoint_verified(
    benchmark: Any, runtime_engine: Engine, signer: LocalSigner, n: int
) -> None:
    def setup() -> tuple[tuple[Registry, Principal], dict[str, Any]]:
        return _fresh_log(runtime_engine, signer, n), {}

    def sign(registry: Registry, owner: Principal) -> None:
        assert registry.sign_checkpoint(owner).tree_size == n + 1

    benchmark.pedantic(sign, setup=setup, rounds=ROUNDS)
    record_mean(f"ckpt{n}_verified", benchmark)


@pytest.mark.parametrize("n", SIZES)
def test_checkpoint_verified_warm(
    benchmark: Any, runtime_engine: Engine, signer: LocalSigner, n: int
) -> None:
    def setup() -> tuple[tuple[Registry, Principal], dict[str, Any]]:
        return _fresh_log(runtime_engine, signer, n, warm=True), {}

    def sign(registry: Registry, owner: Principal) -> None:
        assert registry.sign_checkpoint(owner).tree_size == n + 1

    benchmark.pedantic(sign, setup=setup, rounds=ROUNDS)
    record_mean(f"ckpt{n}_warm", benchmark)


@pytest.mark.parametrize("n", SIZES)
def test_checkpoint_unverified(
    benchmark: Any, runtime_engine: Engine, signer: LocalSigner, n: int
) -> None:
    def setup() -> tuple[tuple[Registry, Principal], dict[str, Any]]:
        return _fresh_log(runtime_engine, signer, n), {}

    benchmark.pedantic(_unverified_sign, setup=setup, rounds=ROUNDS)
    record_mean(f"ckpt{n}_unverified", benchmark)


@pytest.mark.parametrize("n", SIZES)
def test_checkpoint_raw_read(
    benchmark: Any, runtime_engine: Engine, signer: LocalSigner, database: Any, n: int
) -> None:
    connection = raw_connect(database.admin_url)
    try:

        def setup() -> tuple[tuple[str], dict[str, Any]]:
            _, owner = _fresh_log(runtime_engine, signer, n)
            return (owner.tenant_id,), {}

        def read(tenant: str) -> None:
            cursor = connection.cursor()
            cursor.execute(
                "SELECT seq, canonical, leaf_hash, chain_hash, signature, key_id "
                "FROM registry.entity_versions WHERE tenant_id = %s AND seq > 1 ORDER BY seq",
                (tenant,),
            )
            assert len(cursor.fetchall()) == n
            connection.commit()

        benchmark.pedantic(read, setup=setup, rounds=ROUNDS)
    finally:
        connection.close()
    record_mean(f"ckpt{n}_raw", benchmark)
