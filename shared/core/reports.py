"""Offline checks of the evidence documents the service returns, with only public keys.

The verify function's JSON responses (a record with its proof, a checkpoint, the keys)
are what an auditor saves and re-checks. This module turns those documents back into
core values and runs the core checks on them, so the offline auditor
(``tools/audit_offline``), the ``plant`` client and the CLI share one implementation:
when a document's format changes, this is the one place that reads it.

Example::

    keys = parse_keys(Path("keys.json").read_bytes())
    summary = check_verify_report(json.loads(Path("verify.json").read_text()), keys)
    extends = check_consistency(saved_checkpoint, latest_checkpoint, proof_hashes, keys)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core import merkle
from shared.core.checkpoints import Checkpoint, InclusionProof
from shared.core.errors import InputError, VerificationError
from shared.core.hashing import digests_equal, leaf_hash
from shared.core.records import VersionRecord
from shared.core.signing import PublicKey, load_public_keys_pem_bundle
from shared.core.verification import verify_checkpoint, verify_record


def parse_keys(raw: bytes) -> dict[str, PublicKey]:
    """Keys by id from a ``GET /verify/keys`` response, a list of keys, or a PEM bundle."""
    if raw.lstrip().startswith(b"-----BEGIN"):
        keys = load_public_keys_pem_bundle(raw)
    else:
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"the keys are neither JSON nor PEM: {exc}") from None
        entries = document.get("keys") if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise InputError("the keys document has no list of keys", path="$.keys")
        keys = [PublicKey.from_dict(entry) for entry in entries]
    return {key.key_id: key for key in keys}


def check_verify_report(report: Mapping[str, Any], keys: Mapping[str, PublicKey]) -> str:
    """Raise VerificationError unless a ``GET /verify/entities/{id}`` response holds.

    Every check is recomputed here from the record's canonical bytes; the response's own
    ``valid`` and ``checks`` are ignored. Returns a one-line summary.
    """
    record = VersionRecord.from_dict(report["record"])
    previous_hex = report.get("previous_chain_hash")
    if previous_hex is None:
        raise VerificationError("the response carries no previous chain hash", check="chain_hash")
    verify_record(record, previous_chain_hash=bytes.fromhex(previous_hex), trusted_keys=keys)
    if report.get("checkpoint") is None or report.get("inclusion_proof") is None:
        raise VerificationError("the response carries no checkpoint or proof", check="inclusion")
    checkpoint = Checkpoint.from_dict(report["checkpoint"])
    proof = InclusionProof.from_dict(report["inclusion_proof"])
    verify_checkpoint(checkpoint, keys)
    if checkpoint.tenant_id != record.tenant_id or proof.tree_size != checkpoint.tree_size:
        raise VerificationError("the proof is not for this checkpoint", check="inclusion")
    if proof.leaf_index != record.seq - 1:
        raise VerificationError(
            "the proof is for another position in the log",
            check="inclusion",
            expected=record.seq - 1,
            found=proof.leaf_index,
        )
    merkle.verify_inclusion(
        index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=leaf_hash(record.canonical),
        proof=proof.hashes,
        root=checkpoint.root_hash,
    )
    return (
        f"record seq {record.seq} ({record.entity_type} {record.entity_id} v{record.version}) "
        f"is genuine and included in the checkpoint of tree size {checkpoint.tree_size}"
    )


def report_checkpoint(report: Mapping[str, Any]) -> Checkpoint:
    """The checkpoint a verify response is proven against (check the report first)."""
    return Checkpoint.from_dict(report["checkpoint"])


def check_consistency(
    old: Checkpoint,
    new: Checkpoint,
    proof: Sequence[bytes],
    keys: Mapping[str, PublicKey],
    *,
    note_keys: Mapping[str, PublicKey] | None = None,
) -> None:
    """Raise VerificationError unless ``new`` is a signed extension of ``old``.

    Both checkpoints must be signed by trusted keys and be of the same log; ``new`` must
    not be smaller (``rollback``); at equal sizes the roots must be equal, and otherwise
    ``proof`` must lead from ``old``'s root to ``new``'s (``fork``). The roots come from
    the two signed checkpoints only, never from what a server says about them.
    """
    verify_checkpoint(old, keys, note_keys=note_keys)
    verify_checkpoint(new, keys, note_keys=note_keys)
    if old.tenant_id != new.tenant_id:
        raise VerificationError(
            "the checkpoints are of different logs",
            check="log",
            expected=old.tenant_id,
            found=new.tenant_id,
        )
    if new.tree_size < old.tree_size:
        raise VerificationError(
            f"the log now has {new.tree_size} records but a checkpoint of "
            f"{old.tree_size} records was verified before",
            check="rollback",
            expected=old.tree_size,
            found=new.tree_size,
        )
    if new.tree_size == old.tree_size:
        if not digests_equal(old.root_hash, new.root_hash):
            raise VerificationError(
                f"two different roots were signed for tree size {old.tree_size}",
                check="fork",
                expected=old.root_hash.hex(),
                found=new.root_hash.hex(),
            )
        return
    try:
        merkle.verify_consistency(
            first_size=old.tree_size,
            second_size=new.tree_size,
            first_root=old.root_hash,
            second_root=new.root_hash,
            proof=proof,
        )
    except VerificationError as exc:
        raise VerificationError(
            f"the checkpoint of tree size {new.tree_size} does not extend the one of "
            f"tree size {old.tree_size} ({exc.detail})",
            check="fork",
            expected=old.root_hash.hex(),
            found=new.root_hash.hex(),
        ) from exc
