"""The trust store: a later checkpoint must extend the newest one verified before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plant.client import evidence_error
from plant.errors import EvidenceError
from plant.truststore import LogName, TrustStore, TrustStoreError
from shared.core.checkpoints import Checkpoint
from shared.core.errors import VerificationError
from shared.core.reports import check_consistency
from shared.core.signing import LocalSigner
from tests.cli.plant_support import SignedLog, signed_log

LOG = LogName(url="http://127.0.0.1:8080/verify", tenant_id="acme")


def _prover(log: SignedLog) -> Callable[[Checkpoint, Checkpoint], None]:
    """What Client.prove_extends does, with the proof taken from ``log`` (the server)."""

    def prove(old: Checkpoint, new: Checkpoint) -> None:
        hashes = (
            log.consistency(old.tree_size, new.tree_size) if old.tree_size < new.tree_size else []
        )
        try:
            check_consistency(old, new, hashes, {log.signer.key_id: log.signer.public_key})
        except VerificationError as exc:
            raise evidence_error(exc) from exc

    return prove


def test_first_use_remembers_and_a_longer_log_extends_it(
    tmp_path: Path, signer: LocalSigner
) -> None:
    log = signed_log(9, signer)
    store = TrustStore(tmp_path)
    first = store.advance(LOG, log.checkpoint(3), _prover(log))
    assert first.previous is None and "first checkpoint" in first.describe()
    later = store.advance(LOG, log.checkpoint(9), _prover(log))
    assert later.previous is not None and later.previous.tree_size == 3
    assert "extends the verified one of tree size 3" in later.describe()
    stored = store.load(LOG)
    assert stored is not None and stored.tree_size == 9


def test_a_rollback_is_refused_with_both_checkpoints(tmp_path: Path, signer: LocalSigner) -> None:
    log = signed_log(9, signer)
    store = TrustStore(tmp_path)
    store.advance(LOG, log.checkpoint(9), _prover(log))
    with pytest.raises(TrustStoreError) as caught:
        store.advance(LOG, log.checkpoint(5), _prover(log))
    assert caught.value.check == "rollback"
    assert (caught.value.old.tree_size, caught.value.new.tree_size) == (9, 5)
    stored = store.load(LOG)
    assert stored is not None and stored.tree_size == 9  # the rollback was not remembered


@pytest.mark.parametrize("fork_size", [4, 7])
def test_a_fork_is_refused(tmp_path: Path, signer: LocalSigner, fork_size: int) -> None:
    honest, forked = signed_log(7, signer), signed_log(7, signer, tag=" (rewritten)")
    store = TrustStore(tmp_path)
    store.advance(LOG, honest.checkpoint(4), _prover(honest))
    with pytest.raises(TrustStoreError) as caught:
        store.advance(LOG, forked.checkpoint(fork_size), _prover(forked))
    assert caught.value.check == "fork"
    assert caught.value.old.root_hash != caught.value.new.root_hash


def test_another_tenants_checkpoint_is_refused(tmp_path: Path, signer: LocalSigner) -> None:
    other = signed_log(2, signer, tenant_id="globex")
    with pytest.raises(EvidenceError) as caught:
        TrustStore(tmp_path).advance(LOG, other.checkpoint(2), _prover(other))
    assert caught.value.check == "log"
