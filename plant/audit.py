"""Audit a tenant's whole log offline: an export directory, a saved file, or a live URL.

Records stream through ``shared.core.audit.LogAuditor`` — the same checks the service's
own audit runs: contiguous seqs, content, leaf hash, chain link and key of every record,
and each signed checkpoint's signature, Merkle root and chain head as the log reaches its
size. In the ``roots`` mode (the default) per-record signatures are checked beyond the
last checkpoint only, the signed roots prove the rest; the ``signatures`` mode checks
every one, in worker processes (docs/performance.md). An export's tlog-tiles hash tiles
are rebuilt from the records' leaf hashes as they stream past and must match byte for
byte (a full tile as it completes, the partial ones at the size they were fetched at).
Memory stays bounded: one chunk of records and O(log n) state.

When the log ends before a signed checkpoint's size, who is at fault decides the verdict:

- the source says it is complete (the server said "no more records", or the export
  finished): **records were removed** — an ``EvidenceError`` (check ``truncation``);
- the source says more records follow (an export that stopped, a saved first page):
  **the export is incomplete** — an ``IncompleteExportError``, not a tampering verdict.

Example::

    result = audit_source(ExportSource(Path("acme-export")), progress=print)
    print(result.records, result.checkpoints, result.records_per_second)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from plant.client import Client, evidence_error
from plant.errors import EvidenceError, PlantError
from plant.export import ExportDirectory
from shared.core.audit import AuditMode, LogAuditor, LogEntry
from shared.core.checkpoints import Checkpoint
from shared.core.errors import RegistryError, VerificationError
from shared.core.hashing import HASH_SIZE
from shared.core.reports import parse_keys
from shared.core.signing import PublicKey
from shared.core.tiles import TILE_HEIGHT, Tile, TileAccumulator, parse_tile_path
from shared.signature_workers import SignatureWorkers, worker_count

Progress = Callable[[int, int], None]  # (records checked, records expected)


class IncompleteExportError(PlantError):
    """The source ends before a checkpoint it holds, and says that more records follow."""

    def __init__(self, detail: str, *, records: int, checkpoint_size: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.records = records
        self.checkpoint_size = checkpoint_size


class Source(Protocol):
    """Where an audit reads from. ``complete`` is None when the source cannot tell."""

    name: str

    def keys(self) -> Mapping[str, PublicKey]: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def records(self) -> Iterator[Mapping[str, Any]]: ...

    def complete(self) -> bool | None: ...

    def resume_hint(self) -> str: ...


class TiledSource(Protocol):
    """A source that also holds the log's tiles, fetched at ``tile_size`` records."""

    tile_size: int

    def tiles(self) -> Iterator[tuple[str, bytes]]: ...


class ExportSource:
    """A directory written by ``plant export``."""

    def __init__(self, directory: Path) -> None:
        self.name = str(directory)
        self._export = ExportDirectory(directory)
        self._manifest = self._export.manifest()
        self.tile_size = self._manifest.tile_size

    def tiles(self) -> Iterator[tuple[str, bytes]]:
        return self._export.tiles()

    def keys(self) -> Mapping[str, PublicKey]:
        return self._export.keys()

    def checkpoints(self) -> list[Checkpoint]:
        return self._export.checkpoints()

    def records(self) -> Iterator[Mapping[str, Any]]:
        return self._export.records()

    def complete(self) -> bool | None:
        return self._manifest.complete

    def resume_hint(self) -> str:
        return f"run `plant export {self.name}` again to fetch the rest"


class FileSource:
    """A saved ``GET /query/log`` page, a list of pages, or a plain list of records."""

    def __init__(self, path: Path, keys: Path, checkpoints: list[Path]) -> None:
        self.name = str(path)
        self._path = path
        self._keys = keys
        self._checkpoints = checkpoints
        self._complete: bool | None = None

    def keys(self) -> Mapping[str, PublicKey]:
        return parse_keys(self._keys.read_bytes())

    def checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint.from_dict(json.loads(path.read_text())) for path in self._checkpoints]

    def records(self) -> Iterator[Mapping[str, Any]]:
        document = json.loads(self._path.read_text())
        pages = document if isinstance(document, list) else [document]
        if pages and isinstance(pages[0], dict) and "items" in pages[0]:
            for page in pages:
                yield from page["items"]
            # A page says whether more follow; a bare list of records says nothing.
            last = pages[-1]
            if "next_from_seq" in last:
                self._complete = last["next_from_seq"] is None
        else:
            yield from pages

    def complete(self) -> bool | None:
        return self._complete

    def resume_hint(self) -> str:
        return "export the whole log with `plant export DIR` and audit that directory"


class LiveSource:
    """The service itself, read page by page with ``GET /query/log``."""

    def __init__(self, client: Client, page_size: int = 1000) -> None:
        self.name = client.url
        self._client = client
        self._page_size = page_size
        self._complete: bool | None = None

    def keys(self) -> Mapping[str, PublicKey]:
        return self._client.trusted_keys()

    def checkpoints(self) -> list[Checkpoint]:
        return [self._client.checkpoint()]

    def records(self) -> Iterator[Mapping[str, Any]]:
        for page in self._client.iter_log(page_size=self._page_size):
            yield from page.items
            if page.next_from_seq is None:
                self._complete = True

    def complete(self) -> bool | None:
        return self._complete

    def resume_hint(self) -> str:
        return "run the audit again"


# Records the offline audit holds at once (and hands to signature workers at once).
CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class AuditResult:
    records: int
    checkpoints: int
    largest_checkpoint: int
    seconds: float
    mode: AuditMode = AuditMode.ROOTS
    signatures_checked: int = 0
    tiles: int = 0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


def audit_source(
    source: Source,
    *,
    mode: AuditMode = AuditMode.ROOTS,
    progress: Progress | None = None,
    progress_every: int = 500,
    clock: Callable[[], float] = time.perf_counter,
    workers: int | None = None,
) -> AuditResult:
    """Audit every record of ``source``; raise EvidenceError or IncompleteExportError.

    In the signatures mode a log longer than one chunk has its record signatures checked
    by ``workers`` processes (one per core by default) beside the main pass.
    """
    started = clock()
    try:
        keys = source.keys()
        checkpoints = source.checkpoints()
    except (RegistryError, KeyError, TypeError, ValueError, OSError) as exc:
        raise EvidenceError(
            f"{source.name}: cannot read keys or checkpoints: {exc}", check="format"
        ) from exc
    largest = max((c.tree_size for c in checkpoints), default=0)
    auditor = LogAuditor(keys, checkpoints, mode=mode)
    tiles = _TileCheck.of(source)
    pool: SignatureWorkers | None = None
    done = 0
    if progress:
        progress(0, largest)
    try:
        try:
            for chunk in _chunks(source):
                if mode is AuditMode.SIGNATURES and pool is None and len(chunk) == CHUNK:
                    pool = SignatureWorkers(keys, workers or worker_count())
                    auditor.verify_signatures = False  # nothing checked yet
                if pool is not None:
                    pool.submit(chunk)
                for entry in chunk:
                    auditor.add_entry(entry)
                    done += 1
                    if tiles:
                        tiles.add(entry)
                    if progress and done % progress_every == 0:
                        progress(done, max(largest, done))
                if pool is not None and pool.failure is not None:
                    break
            else:
                if progress:
                    progress(done, max(largest, done))
                try:
                    auditor.finish()
                except VerificationError as exc:
                    if exc.check != "truncation":
                        raise
                    _explain_short_log(source, done, largest, exc)
                if tiles:
                    tiles.finish(done)
        except VerificationError as exc:
            earlier = _earlier_failure(exc, pool)
            if earlier is None:
                raise
            raise earlier from exc
        if pool is not None and (failure := pool.drain()) is not None:
            raise failure
    except VerificationError as exc:
        raise evidence_error(exc) from exc
    finally:
        if pool is not None:
            pool.close()
    signatures = auditor.signatures_checked + (pool.checked if pool else 0)
    checked = tiles.checked if tiles else 0
    return AuditResult(
        done, auditor.checkpoints_checked, largest, clock() - started, mode, signatures, checked
    )


def _earlier_failure(
    found: VerificationError, pool: SignatureWorkers | None
) -> VerificationError | None:
    """A bad signature the workers found before the main pass's failure ``found``."""
    earlier = pool.drain() if pool is not None else None
    if earlier is None or earlier.seq is None or found.seq is None or earlier.seq >= found.seq:
        return None
    return earlier


def _chunks(source: Source) -> Iterator[list[LogEntry]]:
    """The source's records as audit entries, ``CHUNK`` at a time."""
    chunk: list[LogEntry] = []
    for position, item in enumerate(source.records(), start=1):
        try:
            chunk.append(LogEntry.from_dict(item))
        except (RegistryError, KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(
                f"record {position} of {source.name} is malformed: {exc}",
                check="format",
                seq=position,
            ) from exc
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _explain_short_log(source: Source, done: int, largest: int, exc: VerificationError) -> None:
    complete = source.complete()
    if complete is True:
        raise VerificationError(
            f"a checkpoint was signed at tree size {largest} but {source.name} says the log "
            f"ends at seq {done}: records were removed",
            check="truncation",
            seq=done + 1,
            expected=largest,
            found=done,
        ) from exc
    if complete is False:
        detail = (
            f"{source.name} is incomplete: it holds records 1..{done} of the {largest} its "
            f"checkpoint covers; {source.resume_hint()}"
        )
    else:
        detail = (
            f"{source.name} ends at seq {done} but a checkpoint covers {largest} records and "
            f"the file does not say whether more follow: either the export is incomplete or "
            f"records were removed; {source.resume_hint()}"
        )
    raise IncompleteExportError(detail, records=done, checkpoint_size=largest) from exc


class _TileCheck:
    """The exported tiles against the tiles the records' leaf hashes make."""

    def __init__(self, exported: dict[tuple[int, int, int], bytes], tile_size: int) -> None:
        self._exported = exported  # (level, index, width) -> bytes
        self._tile_size = tile_size
        self._accumulator = TileAccumulator()
        self.checked = 0

    @classmethod
    def of(cls, source: Source) -> _TileCheck | None:
        if not hasattr(source, "tiles"):
            return None
        tiled: TiledSource = source  # type: ignore[assignment]
        exported: dict[tuple[int, int, int], bytes] = {}
        for path, data in tiled.tiles():
            try:
                tile, entries = parse_tile_path(path)
            except RegistryError as exc:
                raise EvidenceError(f"tiles/{path} is not a tile path", check="format") from exc
            if not entries:
                exported[(tile.level, tile.index, tile.width)] = data
        return cls(exported, tiled.tile_size)

    def add(self, record: LogEntry) -> None:
        for full in self._accumulator.append(record.leaf_hash):
            tile = full.tile
            self._compare(tile.level, tile.index, tile.width, full.data, record.seq)
        if record.seq == self._tile_size:
            level = 0
            while record.seq >> (TILE_HEIGHT * level):
                data = self._accumulator.partial_tile(level)
                if data:
                    index = self._accumulator.full_tiles(level)
                    self._compare(level, index, len(data) // HASH_SIZE, data, record.seq)
                level += 1

    def _compare(self, level: int, index: int, width: int, data: bytes, seq: int) -> None:
        exported = self._exported.pop((level, index, width), None)
        if exported is None:
            return
        self.checked += 1
        if exported != data:
            raise VerificationError(
                f"tiles/{Tile(level, index, width).path()} (as served at seq {seq}) differs from "
                "the tile the records' leaf hashes make",
                check="tiles",
                seq=seq,
            )

    def finish(self, records: int) -> None:
        if self._exported:
            level, index, width = min(self._exported)
            raise VerificationError(
                f"{len(self._exported)} exported tile(s), first level {level} index {index} "
                f"width {width}, lie beyond the {records} records: the export is inconsistent",
                check="tiles",
            )
