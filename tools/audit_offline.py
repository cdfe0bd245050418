"""Check registry evidence offline, with nothing but the public keys.

An auditor saves what the service returned and re-checks it here, without the database
and without trusting the service:

    python -m tools.audit_offline record verify-response.json --keys keys.json
    python -m tools.audit_offline log log.json --keys keys.json --checkpoint checkpoint.json

``record`` takes a ``GET /verify/entities/{id}`` response: it re-derives the leaf hash
from the canonical bytes, checks the chain link, the record's signature, the checkpoint's
signature and the inclusion proof. ``log`` takes the tenant's records from ``GET /log``
(a list, one page ``{"items": [...]}``, or a list of pages) starting at seq 1, and
re-verifies every record in order; with ``--checkpoint`` (a ``GET /verify/checkpoint``
response) it also recomputes the Merkle root and chain head at that tree size.
``--keys`` is a ``GET /verify/keys`` response or a PEM bundle of public keys. The exit
status is 0 when everything holds and 1 with the first failure otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.core import merkle
from shared.core.audit import LogAuditor
from shared.core.checkpoints import Checkpoint, InclusionProof
from shared.core.errors import RegistryError, VerificationError
from shared.core.hashing import leaf_hash
from shared.core.records import VersionRecord
from shared.core.signing import PublicKey, load_public_keys_pem_bundle
from shared.core.verification import verify_checkpoint, verify_record


def load_keys(path: Path) -> dict[str, PublicKey]:
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        keys = load_public_keys_pem_bundle(raw)
    else:
        document = json.loads(raw)
        entries = document["keys"] if isinstance(document, dict) else document
        keys = [PublicKey.from_dict(entry) for entry in entries]
    return {key.key_id: key for key in keys}


def check_record_report(report: Mapping[str, Any], keys: Mapping[str, PublicKey]) -> str:
    """Raise VerificationError unless a verify response holds; return a summary."""
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


def _records(document: Any) -> list[Mapping[str, Any]]:
    pages = (
        document
        if isinstance(document, list) and document and "items" in document[0]
        else [document]
    )
    items: list[Mapping[str, Any]] = []
    for page in pages:
        items.extend(page["items"] if isinstance(page, dict) else page)
    return items


def check_log(
    records: Sequence[Mapping[str, Any]],
    keys: Mapping[str, PublicKey],
    checkpoint: Checkpoint | None,
) -> str:
    """Raise VerificationError at the first bad seq of an exported log; return a summary."""
    auditor = LogAuditor(keys, [checkpoint] if checkpoint else [])
    for item in records:
        auditor.add(VersionRecord.from_dict(item))
    auditor.finish()
    covered = f"; matches the checkpoint of tree size {checkpoint.tree_size}" if checkpoint else ""
    return f"{auditor.records_checked} records verified in order{covered}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit_offline", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="check a GET /verify/entities/{id} response")
    record.add_argument("report", type=Path)
    log = commands.add_parser("log", help="check records exported with GET /log")
    log.add_argument("records", type=Path)
    log.add_argument("--checkpoint", type=Path, help="a GET /verify/checkpoint response")
    for sub in (record, log):
        sub.add_argument("--keys", type=Path, required=True, help="GET /verify/keys or PEM")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.keys)
        if args.command == "record":
            summary = check_record_report(json.loads(args.report.read_text()), keys)
        else:
            checkpoint = (
                Checkpoint.from_dict(json.loads(args.checkpoint.read_text()))
                if args.checkpoint
                else None
            )
            summary = check_log(_records(json.loads(args.records.read_text())), keys, checkpoint)
    except VerificationError as failure:
        where = f" at seq {failure.seq}" if failure.seq is not None else ""
        print(f"INVALID{where}: {failure.check}: {failure.detail}", file=sys.stderr)
        return 1
    except (RegistryError, KeyError, TypeError, ValueError) as exc:
        print(f"INVALID: the evidence is malformed: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
