"""Export a tenant's whole log, its checkpoints and the public keys into a directory.

The directory is everything an offline audit needs, and an export that stops (Ctrl-C, a
network failure) resumes where it stopped when run again::

    DIR/manifest.json           what was exported: records, bytes, whether it is complete
    DIR/keys.json               GET /verify/keys
    DIR/checkpoints/<N>.json    every signed checkpoint seen, by tree size
    DIR/log.jsonl               the log's records in seq order, one JSON object a line
    DIR/tiles/tile/<L>/<N>[.p/<W>]  the log's C2SP tlog-tiles hash tiles as the service
                                serves them, at the size of the records exported

Example::

    summary = export_log(client, Path("acme-export"), progress=print_progress)
    print(summary.records, summary.complete)

Records are appended page by page and the manifest is replaced atomically after each
page, so ``manifest.json`` never claims more than ``log.jsonl`` holds; bytes past the
manifest's ``log_bytes`` (a page written while the process died) are dropped on resume.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plant.client import Client
from shared.core.checkpoints import Checkpoint
from shared.core.reports import parse_keys
from shared.core.signing import PublicKey
from shared.core.tiles import parse_tile_path, tiles_for_size

EXPORT_FORMAT = "plant-export/v1"
MANIFEST = "manifest.json"
KEYS = "keys.json"
LOG = "log.jsonl"
CHECKPOINTS = "checkpoints"
TILES = "tiles"

Progress = Callable[[int, int], None]  # (records done, records expected)


class ExportError(Exception):
    """The directory cannot take this export (another tenant's, or not an export)."""


@dataclasses.dataclass(frozen=True)
class Manifest:
    url: str
    tenant_id: str
    records: int = 0
    log_bytes: int = 0
    complete: bool = False
    # The tree size the tiles in DIR/tiles were fetched at (0: none yet). Full tiles
    # never change; partial ones are those of exactly this size.
    tile_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": EXPORT_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Manifest:
        if document.get("format") != EXPORT_FORMAT:
            raise ExportError(f"not a {EXPORT_FORMAT} manifest")
        return cls(
            url=str(document["url"]),
            tenant_id=str(document["tenant_id"]),
            records=int(document["records"]),
            log_bytes=int(document["log_bytes"]),
            complete=bool(document["complete"]),
            tile_size=int(document.get("tile_size", 0)),
        )


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    records: int
    new_records: int
    checkpoints: int
    complete: bool
    seconds: float
    tiles: int = 0

    @property
    def records_per_second(self) -> float:
        return self.new_records / self.seconds if self.seconds > 0 else float("inf")


def _write_atomically(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _json_text(document: object) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


class ExportDirectory:
    """Reads (and ``export_log`` writes) one export directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def exists(self) -> bool:
        return (self.directory / MANIFEST).exists()

    def manifest(self) -> Manifest:
        path = self.directory / MANIFEST
        if not path.exists():
            raise ExportError(f"{self.directory} holds no export ({MANIFEST} is missing)")
        return Manifest.from_dict(json.loads(path.read_text()))

    def write_manifest(self, manifest: Manifest) -> None:
        _write_atomically(self.directory / MANIFEST, _json_text(manifest.to_dict()))

    def keys(self) -> dict[str, PublicKey]:
        return parse_keys((self.directory / KEYS).read_bytes())

    def write_keys(self, keys: Mapping[str, PublicKey]) -> None:
        # Keep keys an earlier run saved: a rotated-out key still verifies old records.
        known = self.keys() if (self.directory / KEYS).exists() else {}
        merged = {**known, **keys}
        document = {"keys": [merged[key_id].to_dict() for key_id in sorted(merged)]}
        _write_atomically(self.directory / KEYS, _json_text(document))

    def checkpoints(self) -> list[Checkpoint]:
        folder = self.directory / CHECKPOINTS
        if not folder.exists():
            return []
        found = [Checkpoint.from_dict(json.loads(p.read_text())) for p in folder.glob("*.json")]
        return sorted(found, key=lambda checkpoint: checkpoint.tree_size)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        folder = self.directory / CHECKPOINTS
        folder.mkdir(exist_ok=True)
        _write_atomically(folder / f"{checkpoint.tree_size}.json", _json_text(checkpoint.to_dict()))

    def tiles(self) -> Iterator[tuple[str, bytes]]:
        """Every exported tile as (tlog-tiles path, bytes), in no particular order."""
        folder = self.directory / TILES
        if not folder.exists():
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(folder).as_posix(), path.read_bytes()

    def write_tiles(self, client: Client, tree_size: int) -> int:
        """Fetch the tiles of a tree of ``tree_size``; full ones already here are kept
        (they never change), partial ones of another size are replaced. Returns how many
        were fetched."""
        folder = self.directory / TILES
        wanted = tiles_for_size(tree_size)
        keep = {tile.path() for tile in wanted}
        for existing, _ in list(self.tiles()):
            tile, _entries = parse_tile_path(existing)
            if not tile.is_full and existing not in keep:
                (folder / existing).unlink()
        fetched = 0
        for tile in wanted:
            target = folder / tile.path()
            if tile.is_full and target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            data = client.log_tile(tile.path())
            handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
            fetched += 1
        return fetched

    def records(self) -> Iterator[dict[str, Any]]:
        """The exported records in order, up to what the manifest vouches for."""
        manifest = self.manifest()
        remaining = manifest.log_bytes
        path = self.directory / LOG
        if remaining == 0 or not path.exists():
            return
        with path.open("rb") as log:
            for line in log:
                if remaining <= 0:
                    return
                remaining -= len(line)
                yield json.loads(line)


def export_log(
    client: Client,
    directory: Path,
    *,
    page_size: int = 1000,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export (or resume exporting) the token's tenant log into ``directory``."""
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    export = ExportDirectory(directory)
    keys = client.keys()
    # The checkpoint first: the export must reach at least its size, and an export that
    # ends before a checkpoint it holds is then a server that lost records.
    checkpoint = client.checkpoint()
    manifest = export.manifest() if export.exists() else Manifest(client.url, checkpoint.tenant_id)
    if manifest.tenant_id != checkpoint.tenant_id:
        raise ExportError(
            f"{directory} holds tenant {manifest.tenant_id}'s export; this token is for "
            f"tenant {checkpoint.tenant_id}"
        )
    export.write_keys(keys)
    export.write_checkpoint(checkpoint)
    log_path = directory / LOG
    with log_path.open("ab") as log:
        # Anything past what the manifest vouches for is a page a killed run half wrote.
        log.truncate(manifest.log_bytes)
        log.seek(manifest.log_bytes)
        start = done = manifest.records
        expected = max(checkpoint.tree_size, done)
        if progress:
            progress(done, expected)
        for page in client.iter_log(from_seq=done + 1, page_size=page_size):
            chunk = b"".join(
                json.dumps(item, sort_keys=True, separators=(",", ":")).encode() + b"\n"
                for item in page.items
            )
            log.write(chunk)
            log.flush()
            os.fsync(log.fileno())
            done += len(page.items)
            manifest = dataclasses.replace(
                manifest,
                records=done,
                log_bytes=manifest.log_bytes + len(chunk),
                complete=page.next_from_seq is None,
            )
            export.write_manifest(manifest)
            if progress:
                progress(done, max(expected, done))
    # The log may have grown while we read it: keep the newest checkpoint as well.
    latest = client.checkpoint()
    if latest.tree_size != checkpoint.tree_size:
        export.write_checkpoint(latest)
    # The tiles of exactly the records exported, so an audit can rebuild and compare all.
    # While partial tiles are replaced the manifest vouches for none of them.
    export.write_manifest(dataclasses.replace(manifest, tile_size=0))
    tiles = export.write_tiles(client, manifest.records)
    manifest = dataclasses.replace(manifest, tile_size=manifest.records)
    export.write_manifest(manifest)
    return ExportSummary(
        records=manifest.records,
        new_records=manifest.records - start,
        checkpoints=len(export.checkpoints()),
        complete=manifest.complete,
        seconds=time.perf_counter() - started,
        tiles=tiles,
    )
