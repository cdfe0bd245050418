"""Check registry evidence offline, with nothing but the public keys.

An auditor saves what the service returned and re-checks it here, without the database
and without trusting the service:

    python -m tools.audit_offline record verify-response.json --keys keys.json
    python -m tools.audit_offline log log.json --keys keys.json --checkpoint checkpoint.json
    python -m tools.audit_offline consistency saved.json new.json --proof proof.json \
        --keys keys.json

``record`` takes a ``GET /verify/entities/{id}`` response: it re-derives the leaf hash
from the canonical bytes, checks the chain link, the record's signature, the checkpoint's
signature and the inclusion proof. ``log`` takes the tenant's records from ``GET /log``
(a list, one page ``{"items": [...]}``, or a list of pages) starting at seq 1, and
re-verifies every record in order; with ``--checkpoint`` (a ``GET /verify/checkpoint``
response) it also recomputes the Merkle root and chain head at that tree size.
``--mode roots`` (the default) checks per-record signatures beyond the checkpoint only,
``--mode signatures`` every one (docs/performance.md).
``consistency`` takes a checkpoint saved earlier, a newer one (each a
``GET /verify/checkpoint`` response) and the proof between them (a
``GET /verify/consistency?first=&second=`` response, or just its ``proof``): both
checkpoints must verify with the keys, the proof must be for their sizes and lead from
the saved root to the new one. Only the proof hashes are taken from the service's
answer; the roots are the two signed checkpoints' own. A smaller new tree is a
``rollback``, a different root at the same size or a proof that does not lead there a
``fork``.
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

from shared.core.audit import AuditMode, LogAuditor, LogEntry
from shared.core.checkpoints import Checkpoint, ConsistencyProof
from shared.core.errors import RegistryError, VerificationError
from shared.core.reports import check_consistency, check_verify_report, parse_keys
from shared.core.signing import PublicKey

# The checks live in shared.core.reports so that the ``plant`` CLI runs the same ones.
check_record_report = check_verify_report


def load_keys(path: Path) -> dict[str, PublicKey]:
    return parse_keys(path.read_bytes())


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
    mode: AuditMode = AuditMode.ROOTS,
) -> str:
    """Raise VerificationError at the first bad seq of an exported log; return a summary.

    ``roots`` checks record signatures beyond the checkpoint only (its signed root proves
    the bytes of every record it covers); ``signatures`` checks every one.
    """
    auditor = LogAuditor(keys, [checkpoint] if checkpoint else [], mode=mode)
    for item in records:
        auditor.add_entry(LogEntry.from_dict(item))
    auditor.finish()
    covered = f"; matches the checkpoint of tree size {checkpoint.tree_size}" if checkpoint else ""
    return (
        f"{auditor.records_checked} records verified in order{covered}; {mode} mode, "
        f"{auditor.signatures_checked} record signature(s) checked"
    )


def check_saved_consistency(
    old: Checkpoint, new: Checkpoint, proof_document: Any, keys: Mapping[str, PublicKey]
) -> str:
    """Raise VerificationError unless ``new`` extends the saved ``old``; a summary."""
    document = (
        proof_document["proof"]
        if isinstance(proof_document, dict) and "proof" in proof_document
        else proof_document
    )
    proof = ConsistencyProof.from_dict(document)
    if (proof.first_size, proof.second_size) != (old.tree_size, new.tree_size) and (
        new.tree_size > old.tree_size
    ):
        raise VerificationError(
            f"the proof is between tree sizes {proof.first_size} and {proof.second_size}, "
            f"not {old.tree_size} and {new.tree_size}",
            check="proof",
            expected=[old.tree_size, new.tree_size],
            found=[proof.first_size, proof.second_size],
        )
    check_consistency(old, new, proof.hashes, keys)
    if new.tree_size == old.tree_size:
        return f"the checkpoint of tree size {new.tree_size} is the one saved"
    return f"the checkpoint of tree size {new.tree_size} extends the saved one of {old.tree_size}"


def _checkpoint(path: Path) -> Checkpoint:
    return Checkpoint.from_dict(json.loads(path.read_text()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit_offline", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="check a GET /verify/entities/{id} response")
    record.add_argument("report", type=Path)
    log = commands.add_parser("log", help="check records exported with GET /log")
    log.add_argument("records", type=Path)
    log.add_argument("--checkpoint", type=Path, help="a GET /verify/checkpoint response")
    log.add_argument(
        "--mode",
        choices=[mode.value for mode in AuditMode],
        default=AuditMode.ROOTS.value,
        help="roots: record signatures beyond the checkpoint only; signatures: all of them",
    )
    consistency = commands.add_parser(
        "consistency", help="check that a new checkpoint extends one saved earlier"
    )
    consistency.add_argument("old", type=Path, help="the checkpoint saved earlier")
    consistency.add_argument("new", type=Path, help="a newer GET /verify/checkpoint response")
    consistency.add_argument(
        "--proof", type=Path, required=True, help="GET /verify/consistency response between them"
    )
    for sub in (record, log, consistency):
        sub.add_argument("--keys", type=Path, required=True, help="GET /verify/keys or PEM")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.keys)
        if args.command == "record":
            summary = check_record_report(json.loads(args.report.read_text()), keys)
        elif args.command == "consistency":
            summary = check_saved_consistency(
                _checkpoint(args.old),
                _checkpoint(args.new),
                json.loads(args.proof.read_text()),
                keys,
            )
        else:
            checkpoint = (
                Checkpoint.from_dict(json.loads(args.checkpoint.read_text()))
                if args.checkpoint
                else None
            )
            summary = check_log(
                _records(json.loads(args.records.read_text())),
                keys,
                checkpoint,
                AuditMode(args.mode),
            )
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
