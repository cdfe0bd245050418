"""Check registry evidence offline, with nothing but the public keys.

An auditor saves what the service returned and re-checks it here, without the database
and without trusting the service:

    python -m tools.audit_offline record verify-response.json --keys keys.json
    python -m tools.audit_offline log log.json --keys keys.json --checkpoint checkpoint.json
    python -m tools.audit_offline consistency saved.json new.json --proof proof.json \
        --keys keys.json
    python -m tools.audit_offline tiles https://host/verify/log --token T --vkey V \
        --origin O [--trusted-checkpoint saved.note] [--save-checkpoint saved.note]

``tiles`` audits a whole C2SP tlog-tiles log (the read API under ``/verify/log``, or a
directory of the same layout) with only the log's verifier key and origin: the signed
note, every entry (canonical record of the origin's tenant at its seq), every leaf hash,
every tile and the root (``tools/tiles_audit.py``). A checkpoint note saved earlier must
be the root of the first entries of the log now; a shorter log is a ``rollback``, another
root a ``fork`` (exit 1; 2 when the log cannot be fetched).

``record`` takes a ``GET /verify/entities/{id}`` response: it re-derives the leaf hash
from the canonical bytes, checks the chain link, the record's signature, the checkpoint's
signature and the inclusion proof. ``log`` takes the tenant's records from ``GET /log``
(a list, one page ``{"items": [...]}``, or a list of pages) starting at seq 1, and
re-verifies every record in order; with ``--checkpoint`` (a ``GET /verify/checkpoint``
response) it also recomputes the Merkle root and chain head at that tree size.
``--mode roots`` (the default) checks per-record signatures beyond the checkpoint only,
``--mode signatures`` every one (docs/performance.md).
Saved pages that end before the checkpoint's size are judged by the last page: if it
names a ``next_from_seq``, the export is incomplete (exit 3), not a log with records
removed.
``consistency`` takes a checkpoint saved earlier, a newer one (each a
``GET /verify/checkpoint`` response) and the proof between them (a
``GET /verify/consistency?first=&second=`` response, or just its ``proof``): both
checkpoints must verify with the keys, the proof must be for their sizes and lead from
the saved root to the new one. Only the proof hashes are taken from the service's
answer; the roots are the two signed checkpoints' own. A smaller new tree is a
``rollback``, a different root at the same size or a proof that does not lead there a
``fork``.
``--keys`` is a ``GET /verify/keys`` response or a PEM bundle of public keys. The exit
status is 0 when everything holds, 1 with the first failure, 3 for an incomplete export.
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
from tools.tiles_audit import FetchError, audit_tiles, source_for

# The checks live in shared.core.reports so that the ``plant`` CLI runs the same ones.
check_record_report = check_verify_report


def load_keys(path: Path) -> dict[str, PublicKey]:
    return parse_keys(path.read_bytes())


EXIT_INCOMPLETE = 3


class IncompleteLogError(Exception):
    """The saved pages end with one that says more records follow: not a tampering
    verdict, the export stopped early."""


def _pages(document: Any) -> list[Any]:
    is_pages = isinstance(document, list) and document and isinstance(document[0], dict)
    return document if is_pages and "items" in document[0] else [document]


def _records(document: Any) -> list[Mapping[str, Any]]:
    items: list[Mapping[str, Any]] = []
    for page in _pages(document):
        items.extend(page["items"] if isinstance(page, dict) else page)
    return items


def _more_follow(document: Any) -> int | None:
    """The seq the saved pages say comes next, or None when they say nothing more does
    (or, a bare list of records, say nothing at all)."""
    last = _pages(document)[-1]
    if isinstance(last, dict) and isinstance(last.get("next_from_seq"), int):
        return int(last["next_from_seq"])
    return None


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
    tiles = commands.add_parser("tiles", help="audit a whole tlog-tiles log with its vkey")
    tiles.add_argument("source", help="base URL (…/verify/log) or a directory of the layout")
    tiles.add_argument(
        "--vkey", required=True, help="signed-note verifier key (GET /verify/keys?tenant=)"
    )
    tiles.add_argument("--origin", required=True, help="the log's origin")
    tiles.add_argument("--token", help="Bearer token for the read API")
    tiles.add_argument("--trusted-checkpoint", type=Path, help="a checkpoint note saved earlier")
    tiles.add_argument("--save-checkpoint", type=Path, help="save the verified checkpoint here")
    tiles.add_argument("--json", action="store_true", help="print the result as JSON")
    for sub in (record, log, consistency):
        sub.add_argument("--keys", type=Path, required=True, help="GET /verify/keys or PEM")
    args = parser.parse_args(argv)
    if args.command == "tiles":
        return _tiles_main(args)
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
            document = json.loads(args.records.read_text())
            try:
                summary = check_log(_records(document), keys, checkpoint, AuditMode(args.mode))
            except VerificationError as failure:
                following = _more_follow(document)
                if failure.check != "truncation" or following is None:
                    raise
                raise IncompleteLogError(
                    f"{args.records} is incomplete: its last page says more records follow "
                    f"from seq {following}; fetch every page (GET /query/log?from_seq="
                    f"{following}, until next_from_seq is null) or use `plant export`, "
                    "then audit again"
                ) from failure
            following = _more_follow(document)
            if following is not None:
                summary += (
                    f" (the last page says more follow from seq {following}: "
                    "what was saved holds, but it is not the whole log)"
                )
    except IncompleteLogError as incomplete:
        print(f"INCOMPLETE: {incomplete}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except VerificationError as failure:
        where = f" at seq {failure.seq}" if failure.seq is not None else ""
        print(f"INVALID{where}: {failure.check}: {failure.detail}", file=sys.stderr)
        return 1
    except (RegistryError, KeyError, TypeError, ValueError) as exc:
        print(f"INVALID: the evidence is malformed: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {summary}")
    return 0


def _tiles_main(args: argparse.Namespace) -> int:
    """Exit 0 valid, 1 invalid (rollback, fork, any mismatch), 2 usage or fetch error."""
    try:
        trusted = args.trusted_checkpoint.read_bytes() if args.trusted_checkpoint else None
        result = audit_tiles(
            source_for(args.source, args.token),
            vkey=args.vkey,
            origin=args.origin,
            trusted=trusted,
        )
    except (FetchError, OSError) as exc:
        _report(args, {"valid": None, "error": str(exc)}, f"ERROR: {exc}")
        return 2
    except VerificationError as failure:
        where = f" at seq {failure.seq}" if failure.seq is not None else ""
        _report(
            args,
            {"valid": False, "check": failure.check, "seq": failure.seq, "detail": failure.detail},
            f"INVALID{where}: {failure.check}: {failure.detail}",
        )
        return 1
    except (RegistryError, ValueError) as exc:
        _report(args, {"valid": False, "check": "malformed", "detail": str(exc)}, f"INVALID: {exc}")
        return 1
    if args.save_checkpoint:
        args.save_checkpoint.write_bytes(result.checkpoint_note)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"OK: {result.summary()}")
    return 0


def _report(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(document))
    else:
        print(text, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
