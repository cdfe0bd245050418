"""plant: the registry from a terminal, for people who do not write code.

Every command that talks to a service takes ``--url`` and ``--token`` (or the
environment variables ``PLANT_URL`` and ``PLANT_TOKEN``)::

    export PLANT_URL=http://127.0.0.1:8080 PLANT_TOKEN=$(make -s token)
    plant create Skill '{"name":"Python","description":"The language","category":"technical"}'
    plant get ENTITY_ID --output table
    plant verify ENTITY_ID                 # exit 0 when the proof holds, 1 when not
    plant export acme-export               # resumable, with a progress bar
    plant audit acme-export                # offline, with only the exported public keys
    plant consistency                      # the log still extends what you saw before

Exit status: 0 everything holds; 1 evidence does not verify (tampering, a rollback, a
fork); 2 bad usage; 3 an incomplete export (not a verdict: export again); 4 the service
refused the request or could not be reached.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import platformdirs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from plant.audit import (
    AuditResult,
    ExportSource,
    FileSource,
    IncompleteExportError,
    LiveSource,
    Source,
    audit_source,
)
from plant.client import FUNCTIONS, Client
from plant.errors import ApiError, EvidenceError, PlantError, TransportError
from plant.export import ExportDirectory, ExportError, export_log
from plant.truststore import LogName, TrustStore, TrustStoreError, describe_checkpoint
from shared.core.audit import AuditMode
from shared.core.checkpoints import Checkpoint
from shared.core.records import VersionRecord
from shared.core.reports import parse_keys

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_INCOMPLETE = 3
EXIT_SERVICE = 4

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True)
TABLE_FIELDS = ("entity_id", "entity_type", "version", "status", "seq", "created_at", "name")


def _fail(code: int, message: str) -> NoReturn:
    # Plain text, not rich: a failure line must not be re-wrapped or styled.
    click.echo(message, err=True)
    sys.exit(code)


def connection_options(function: F) -> F:
    function = click.option(
        "--insecure",
        is_flag=True,
        help="Allow plain http to a host other than loopback (the token travels in clear).",
    )(function)
    function = click.option(
        "--token", envvar="PLANT_TOKEN", help="Bearer token (env PLANT_TOKEN)."
    )(function)
    return click.option(
        "--url",
        envvar="PLANT_URL",
        help="The service: the dev server's URL (make run), e.g. http://127.0.0.1:8080 "
        "(env PLANT_URL). Deployed functions: PLANT_CREATE_URL, PLANT_QUERY_URL, "
        "PLANT_SUPERSEDE_URL, PLANT_VERIFY_URL.",
    )(function)


def output_option(function: F) -> F:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["json", "table", "id"]),
        default="json",
        show_default=True,
        help="json: the records as served; table: a readable summary; id: entity ids only.",
    )(function)


def keys_option(function: F) -> F:
    return click.option(
        "--keys",
        "keys_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Trusted public keys (a saved GET /verify/keys or a PEM bundle). Without it "
        "the service's own keys are fetched.",
    )(function)


def _client(
    url: str | None, token: str | None, insecure: bool, keys_file: Path | None = None
) -> Client:
    keys = parse_keys(keys_file.read_bytes()) if keys_file else None
    # Deployed, each function has its own URL: PLANT_QUERY_URL etc. override --url's.
    function_urls = {
        name: os.environ[variable]
        for name in FUNCTIONS
        if os.environ.get(variable := f"PLANT_{name.upper()}_URL")
    }
    if url is None and not function_urls:
        raise click.UsageError("give --url (or PLANT_URL), or PLANT_<FUNCTION>_URL for each")
    try:
        return Client(
            url, token=token, function_urls=function_urls, trusted_keys=keys, insecure=insecure
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None


def _run(action: Callable[[], int | None]) -> None:
    """Run a command body; translate failures to one line and an exit status."""
    try:
        code = action()
    except TrustStoreError as exc:
        _fail(
            EXIT_INVALID,
            f"INVALID: {exc.one_line()}\n  {exc.log}\n"
            f"  {describe_checkpoint('verified before', exc.old)}\n"
            f"  {describe_checkpoint('served now     ', exc.new)}",
        )
    except EvidenceError as exc:
        _fail(EXIT_INVALID, f"INVALID: {exc.one_line()}")
    except IncompleteExportError as exc:
        _fail(EXIT_INCOMPLETE, f"INCOMPLETE: {exc.detail}")
    except ApiError as exc:
        where = f" (request {exc.request_id})" if exc.request_id else ""
        _fail(EXIT_SERVICE, f"ERROR: {exc.status} {exc.kind}: {exc.detail}{where}")
    except (TransportError, ExportError) as exc:
        _fail(EXIT_SERVICE, f"ERROR: {exc}")
    except PlantError as exc:
        _fail(EXIT_SERVICE, f"ERROR: {exc}")
    sys.exit(code or EXIT_OK)


def _json_argument(value: str | None, what: str) -> Any:
    if value is None:
        return None
    text = sys.stdin.read() if value == "-" else value
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not JSON: {exc}") from None


def _print_records(records: Sequence[VersionRecord] | Iterable[VersionRecord], output: str) -> None:
    items = list(records)
    if output == "id":
        for record in items:
            click.echo(record.entity_id)
        return
    if output == "table":
        table = Table()
        for column in TABLE_FIELDS:
            # Ids are copied from here: never truncate one; long names may wrap.
            table.add_column(column, no_wrap=column in ("entity_id", "created_at"))
        for record in items:
            name = record.data.get("name") if isinstance(record.data, Mapping) else None
            table.add_row(
                record.entity_id,
                record.entity_type,
                str(record.version),
                record.status,
                str(record.seq),
                record.to_dict()["created_at"],
                str(name or ""),
            )
        Console(width=max(Console().width, 150)).print(table)
        return
    click.echo(json.dumps([r.to_dict() for r in items], indent=2, sort_keys=True))


def _print_record(record: VersionRecord, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(record.to_dict(), indent=2, sort_keys=True))
    else:
        _print_records([record], output)


class RateColumn(ProgressColumn):
    """Records per second, as rich measures it over the last few updates."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "… records/s")


def _progress(description: str) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )


def _with_progress(description: str) -> tuple[Progress, Callable[[int, int], None]]:
    bar = _progress(description)
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    return bar, update


def _trust_store(directory: Path | None) -> TrustStore:
    return TrustStore(directory or Path(platformdirs.user_config_dir("plant")))


def _advance(client: Client, store: TrustStore, checkpoint: Checkpoint) -> str:
    log = LogName(url=client.url, tenant_id=checkpoint.tenant_id)
    return store.advance(log, checkpoint, client.prove_extends).describe()


trust_store_option = click.option(
    "--trust-store",
    "trust_store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PLANT_TRUST_STORE",
    help="Where verified checkpoints are remembered (default: the user config dir, "
    "e.g. $XDG_CONFIG_HOME/plant; env PLANT_TRUST_STORE).",
)


@click.group(help=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[-1])
@click.version_option(package_name="plant-registry", prog_name="plant")
def main() -> None:
    """The ``plant`` command group."""


# --- records ----------------------------------------------------------------------------


@main.command()
@click.argument("entity_type")
@click.argument("data")
@connection_options
@output_option
def create(
    entity_type: str, data: str, url: str | None, token: str | None, insecure: bool, output: str
) -> None:
    """Create an ENTITY_TYPE (Skill, Industry, JobRole, Agent, Team) from DATA.

    DATA is a JSON object, @FILE, or - for standard input.
    """
    body = _json_argument(data, "DATA")
    client = _client(url, token, insecure)
    _run(lambda: _print_record(client.create(entity_type, body), output))


def point_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--as-of-seq N`` / ``--as-of TIME``: read the registry as it stood then."""
    command = click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=_RFC3339_FORMATS),
        help="As the registry stood at this instant (RFC 3339, with an offset or Z).",
    )(command)
    return click.option(
        "--as-of-seq",
        "as_of_seq",
        type=click.IntRange(min=1),
        help="As the registry stood once this seq of the log was appended.",
    )(command)


# click.DateTime parses with strptime: %z takes Z, +01:00 and +0100, and is required, so
# a time without an offset (which names no instant) is a usage error.
_RFC3339_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")


@main.command()
@click.argument("entity_id")
@click.option("--version", "version", type=click.IntRange(min=1), help="One version.")
@point_options
@connection_options
@output_option
def get(
    entity_id: str,
    version: int | None,
    as_of_seq: int | None,
    as_of: datetime | None,
    url: str | None,
    token: str | None,
    insecure: bool,
    output: str,
) -> None:
    """Show an entity's current version (or --version N, or as of --as-of-seq/--as-of)."""
    client = _client(url, token, insecure)
    _run(
        lambda: _print_record(
            client.get(entity_id, version, as_of_seq=as_of_seq, as_of=as_of), output
        )
    )


@main.command()
@click.argument("entity_id")
@connection_options
@output_option
def history(
    entity_id: str, url: str | None, token: str | None, insecure: bool, output: str
) -> None:
    """Show every version of an entity, oldest first."""
    client = _client(url, token, insecure)
    _run(lambda: _print_records(client.history(entity_id), output))


@main.command(name="list")
@click.option("--type", "entity_type", help="Only this entity type.")
@click.option("--status", help="Only entities whose current status is this.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (default: all).")
@point_options
@connection_options
@output_option
def list_command(
    entity_type: str | None,
    status: str | None,
    limit: int | None,
    as_of_seq: int | None,
    as_of: datetime | None,
    url: str | None,
    token: str | None,
    insecure: bool,
    output: str,
) -> None:
    """List entities (current versions, or as of a point), following pages to the end."""
    client = _client(url, token, insecure)

    def body() -> None:
        found: list[VersionRecord] = []
        listed = client.list(
            entity_type=entity_type, status=status, as_of_seq=as_of_seq, as_of=as_of
        )
        for record in listed:
            found.append(record)
            if limit is not None and len(found) >= limit:
                break
        _print_records(found, output)

    _run(body)


@main.command()
@click.argument("entity_id")
@click.option("--expected-version", required=True, type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why (recorded in the log).")
@click.option("--status", help="New status, e.g. certified, deprecated, retired.")
@click.option("--data", "data", help="New data: a JSON object, @FILE, or -.")
@connection_options
@output_option
def supersede(
    entity_id: str,
    expected_version: int,
    reason: str,
    status: str | None,
    data: str | None,
    url: str | None,
    token: str | None,
    insecure: bool,
    output: str,
) -> None:
    """Append the next version of an entity (new data, a new status, or both)."""
    body = _json_argument(data, "--data")
    client = _client(url, token, insecure)
    _run(
        lambda: _print_record(
            client.supersede(
                entity_id,
                expected_version=expected_version,
                reason=reason,
                data=body,
                status=status,
            ),
            output,
        )
    )


# --- evidence ----------------------------------------------------------------------------


@main.command()
@click.argument("entity_id")
@click.option("--version", "version", type=click.IntRange(min=1), help="One version.")
@connection_options
@keys_option
@trust_store_option
def verify(
    entity_id: str,
    version: int | None,
    url: str | None,
    token: str | None,
    insecure: bool,
    keys_file: Path | None,
    trust_store_dir: Path | None,
) -> None:
    """Fetch a record and its proof, and re-check everything locally.

    The leaf hash, chain link, record signature, checkpoint signature and inclusion
    proof are recomputed here with only public keys, and the checkpoint must extend the
    one this machine verified before (the trust store). Exit 0 when all holds, 1 with
    one line naming the failed check otherwise.
    """
    client = _client(url, token, insecure, keys_file)

    def body() -> None:
        result = client.verify(entity_id, version)
        trust = _advance(client, _trust_store(trust_store_dir), result.checkpoint)
        click.echo(f"OK: {result.summary}; {trust}")

    _run(body)


@main.command()
@connection_options
@keys_option
@trust_store_option
def consistency(
    url: str | None,
    token: str | None,
    insecure: bool,
    keys_file: Path | None,
    trust_store_dir: Path | None,
) -> None:
    """Check that the log's latest checkpoint extends the one verified before.

    The first run remembers the checkpoint (trust on first use); every later run fetches
    the latest signed checkpoint and a consistency proof from the remembered one. A
    smaller tree (rollback) or a proof that fails (fork) is exit 1, with both
    checkpoints shown.
    """
    client = _client(url, token, insecure, keys_file)
    _run(
        lambda: click.echo(
            f"OK: {_advance(client, _trust_store(trust_store_dir), client.checkpoint())}"
        )
    )


@main.command()
@connection_options
def keys(url: str | None, token: str | None, insecure: bool) -> None:
    """Print the service's public keys (GET /verify/keys), to save and pin."""
    client = _client(url, token, insecure)

    def body() -> None:
        found = client.keys()
        document = {"keys": [found[key_id].to_dict() for key_id in sorted(found)]}
        click.echo(json.dumps(document, indent=2, sort_keys=True))

    _run(body)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@connection_options
@keys_option
def export(
    directory: Path,
    page_size: int,
    url: str | None,
    token: str | None,
    insecure: bool,
    keys_file: Path | None,
) -> None:
    """Export the token's tenant log, its checkpoints and the public keys into DIRECTORY.

    Run it again on the same DIRECTORY to resume an export that stopped, or to fetch
    what was appended since. `plant audit DIRECTORY` then checks it offline.
    """
    client = _client(url, token, insecure, keys_file)

    def body() -> None:
        bar, update = _with_progress("export")
        with bar:
            summary = export_log(client, directory, page_size=page_size, progress=update)
        click.echo(
            f"OK: {summary.records} records in {directory} ({summary.new_records} new in "
            f"{summary.seconds:.1f} s, {summary.records_per_second:,.0f} records/s), "
            f"{summary.checkpoints} checkpoint(s), {summary.tiles} tile(s) fetched; "
            f"audit it with: plant audit {directory}"
        )

    _run(body)


def _source(
    target: str,
    keys_file: Path | None,
    checkpoints: Sequence[Path],
    token: str | None,
    insecure: bool,
) -> Source:
    if target.startswith(("http://", "https://")):
        return LiveSource(_client(target, token, insecure, keys_file))
    path = Path(target)
    if path.is_dir():
        if not ExportDirectory(path).exists():
            raise click.BadParameter(
                f"{path} is not a `plant export` directory", param_hint="SOURCE"
            )
        return ExportSource(path)
    if path.is_file():
        if keys_file is None:
            raise click.BadParameter("auditing a file needs --keys", param_hint="--keys")
        return FileSource(path, keys_file, list(checkpoints))
    raise click.BadParameter(
        f"{target} is neither a URL, a directory nor a file", param_hint="SOURCE"
    )


@main.command()
@click.argument("source")
@keys_option
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a saved log file: a saved GET /verify/checkpoint (repeatable).",
)
@click.option("--token", envvar="PLANT_TOKEN", help="For a URL: bearer token (env PLANT_TOKEN).")
@click.option("--insecure", is_flag=True, help="For a URL: allow plain http off loopback.")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in AuditMode]),
    default=AuditMode.ROOTS.value,
    show_default=True,
    help="roots: record signatures beyond the last checkpoint only, the signed roots prove "
    "the rest; signatures: every record's signature too (in worker processes).",
)
def audit(
    source: str,
    keys_file: Path | None,
    checkpoints: tuple[Path, ...],
    token: str | None,
    insecure: bool,
    mode: str,
) -> None:
    """Audit a whole log offline: an export DIRECTORY, a saved log FILE, or a live URL.

    Every record's content, leaf hash and chain link are re-checked in order, and every
    signed checkpoint's root and chain head as the log reaches its size; record
    signatures as --mode says. The first bad seq and check is named (exit 1). A log that
    ends before its checkpoint is "records were removed" (exit 1) when the source says it
    is complete, and "your export is incomplete" (exit 3) when it says more records follow.
    """

    def body() -> None:
        chosen = _source(source, keys_file, checkpoints, token, insecure)
        bar, update = _with_progress("audit")
        with bar:
            result = audit_source(chosen, mode=AuditMode(mode), progress=update)
        click.echo(f"OK: {_summary(result)}")

    _run(body)


def _summary(result: AuditResult) -> str:
    covered = (
        f", matching {result.checkpoints} signed checkpoint(s) up to tree size "
        f"{result.largest_checkpoint}"
        if result.checkpoints
        else ", no signed checkpoint covered"
    )
    tiles = f", {result.tiles} tile(s) matching the records" if result.tiles else ""
    return (
        f"{result.records} records verified in order{covered}{tiles}; {result.mode} mode, "
        f"{result.signatures_checked} record signature(s) checked "
        f"({result.seconds:.1f} s, {result.records_per_second:,.0f} records/s)"
    )


def run() -> None:
    """Console-script entry point."""
    main(prog_name="plant", auto_envvar_prefix=None, max_content_width=100)
