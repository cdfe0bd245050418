"""plant.Client and the plant CLI against the four functions as standalone processes.

Each function runs as ``functions-framework --target X`` on its own port, as deployed, so
this also proves the client's per-function URLs. A DBA who deletes the log's tail and its
newest checkpoints is caught by the CLI's trust store, whatever the service then says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from plant.audit import ExportSource, IncompleteExportError, audit_source
from plant.cli import main
from plant.client import Client, Response, RetryPolicy, UrllibTransport
from plant.errors import (
    LogRollbackDetectedError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    VersionConflictError,
)
from plant.export import export_log
from tests.e2e.e2e_support import Keys

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]

SKILL = {"name": "Python", "description": "The language", "category": "technical"}


def _industries(count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {"entity_type": "Industry", "data": {"name": f"{prefix} {i}", "description": "e2e"}}
        for i in range(count)
    ]


@pytest.fixture
def cli_env(
    function_servers: dict[str, str],
    keys: Keys,
    tenant: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI pointed at the standalone functions, with its own trust store."""
    for name, url in function_servers.items():
        monkeypatch.setenv(f"PLANT_{name.upper()}_URL", url)
    monkeypatch.delenv("PLANT_URL", raising=False)
    monkeypatch.setenv("PLANT_TOKEN", keys.token(tenant))
    monkeypatch.setenv("PLANT_TRUST_STORE", str(tmp_path / "trust"))
    return


def _plant(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _verdict(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith(("export ", "audit ")))


def test_every_client_method_against_standalone_functions(
    function_servers: dict[str, str], keys: Keys, tenant: str
) -> None:
    client = Client(function_urls=function_servers, token=keys.token(tenant))
    skill = client.create("Skill", SKILL)
    certified = client.supersede(
        skill.entity_id, expected_version=1, status="certified", reason="reviewed"
    )
    assert (certified.version, certified.status) == (2, "certified")
    with pytest.raises(VersionConflictError) as stale:
        client.supersede(skill.entity_id, expected_version=1, status="retired", reason="late")
    assert stale.value.current_version == 2
    batch = client.create_batch(_industries(30, "Batch"))
    assert [r.seq for r in batch] == list(range(3, 33))
    assert client.get(skill.entity_id, version=1).status == "pending_certification"
    assert [r.version for r in client.history(skill.entity_id)] == [1, 2]
    listed = list(client.list(entity_type="Industry", page_size=7))
    assert len(listed) == 30
    pages = list(client.iter_log(page_size=10))
    assert [len(p.items) for p in pages] == [10, 10, 10, 2]
    first = client.sign_checkpoint()
    assert client.checkpoint() == first == client.sign_checkpoint()
    proof = client.verify(skill.entity_id)
    assert proof.record.version == 2 and "is genuine" in proof.summary
    client.create_batch(_industries(5, "Later"))
    assert client.checkpoint() == first  # reads never sign
    second = client.sign_checkpoint()
    assert second.tree_size == first.tree_size + 5
    client.prove_extends(first, second)
    assert client.audit()["valid"] is True
    assert set(client.keys()) == set(client.trusted_keys())
    with pytest.raises(NotFoundError):
        client.get("01a20fba-5779-709b-92a3-e727764cf77c")
    reader = Client(function_urls=function_servers, token=keys.token(tenant, "registry:read"))
    with pytest.raises(PermissionDeniedError):
        reader.create("Skill", SKILL)


def test_cli_records_verify_export_and_audit(
    cli_env: None, function_servers: dict[str, str], keys: Keys, tenant: str, tmp_path: Path
) -> None:
    created = _plant("create", "Skill", json.dumps(SKILL), "--output", "id")
    assert created.exit_code == 0, created.stderr
    entity = created.stdout.strip()
    certified = _plant(
        "supersede", entity, "--expected-version", "1", "--status", "certified", "--reason", "ok"
    )
    assert certified.exit_code == 0 and json.loads(certified.stdout)["version"] == 2
    stale = _plant(
        "supersede", entity, "--expected-version", "1", "--status", "retired", "--reason", "late"
    )
    assert stale.exit_code == 4 and "409 version-conflict" in stale.stderr
    assert _plant("get", entity, "--output", "table").exit_code == 0
    history = _plant("history", entity, "--output", "json")
    assert [r["version"] for r in json.loads(history.stdout)] == [1, 2]
    listed = _plant("list", "--type", "Skill", "--output", "id")
    assert listed.stdout.split() == [entity]

    Client(function_urls=function_servers, token=keys.token(tenant)).sign_checkpoint()
    verified = _plant("verify", entity)
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.startswith("OK: record seq 2") and "first checkpoint" in verified.stdout

    export = tmp_path / "export"
    exported = _plant("export", str(export), "--page-size", "1")
    assert exported.exit_code == 0, exported.stderr
    assert "OK: 2 records" in exported.stdout
    audited = _plant("audit", str(export))
    assert audited.exit_code == 0, audited.stderr
    assert audited.stdout.startswith("OK: 2 records verified in order, matching")
    # The service's tile of those two records, fetched by the export, matches them.
    assert (export / "tiles" / "tile" / "0" / "000.p" / "2").stat().st_size == 64
    assert "1 tile(s) matching the records" in audited.stdout
    # Run again: nothing new to fetch, and the export is still whole.
    again = _plant("export", str(export))
    assert again.exit_code == 0 and "(0 new in " in again.stdout
    assert _plant("audit", str(export)).exit_code == 0


def test_the_trust_store_catches_a_rollback_and_a_fork(
    cli_env: None,
    function_servers: dict[str, str],
    keys: Keys,
    tenant: str,
    database: Any,
    tmp_path: Path,
) -> None:
    client = Client(function_urls=function_servers, token=keys.token(tenant))
    client.create_batch(_industries(5, "Before"))
    client.sign_checkpoint()
    client.create_batch(_industries(7, "Before more"))
    client.sign_checkpoint()
    seen = _plant("consistency")
    assert seen.exit_code == 0 and "first checkpoint" in seen.stdout
    assert "tree size 12" in seen.stdout

    # The DBA deletes the tail and the newest checkpoint, bypassing the guards.
    admin = sa.create_engine(database.admin_url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for table, column in (("entity_versions", "seq"), ("checkpoints", "tree_size")):
                conn.execute(
                    sa.text(f"DELETE FROM registry.{table} WHERE tenant_id = :t AND {column} > 5"),
                    {"t": tenant},
                )
    finally:
        admin.dispose()

    rolled_back = _plant("consistency")
    print("after the deletion:", rolled_back.exit_code, _verdict(rolled_back))
    # The service serves the newest checkpoint it still has; the client knows better.
    assert rolled_back.exit_code == 1, rolled_back.stdout
    verdict = _verdict(rolled_back)
    assert verdict.startswith("INVALID: rollback: ")
    assert "verified before: tree size 12" in verdict
    assert "served now     : tree size 5" in verdict

    # The log regrows past the size the client saw. The service compares with what it
    # published and refuses to sign a second history; the client still sees the rollback.
    client.create_batch(_industries(10, "After"))
    with pytest.raises(LogRollbackDetectedError):
        client.sign_checkpoint()
    forked = _plant("consistency")
    print("after the regrowth:", forked.exit_code, _verdict(forked))
    assert forked.exit_code == 1, forked.stdout
    assert _verdict(forked).startswith("INVALID: rollback: ")
    # The trust store still holds what was verified, not what was served since.
    (stored,) = (tmp_path / "trust" / "logs").glob("*.json")
    assert json.loads(stored.read_text())["checkpoint"]["tree_size"] == 12


class _FailingAfter:
    """The real transport, until ``pages`` log pages have been served; then the network drops."""

    def __init__(self, pages: int) -> None:
        self._inner = UrllibTransport()
        self._pages = pages

    def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        if "/log?" in url:
            if self._pages == 0:
                raise TransportError(f"{method} {url}: connection reset")
            self._pages -= 1
        return self._inner.send(method, url, headers, body, timeout)


def test_an_interrupted_export_is_incomplete_then_resumes(
    function_servers: dict[str, str], keys: Keys, tenant: str, tmp_path: Path
) -> None:
    token = keys.token(tenant)
    writer = Client(function_urls=function_servers, token=token)
    writer.create_batch(_industries(25, "Resume"))
    writer.sign_checkpoint()
    flaky = Client(
        function_urls=function_servers,
        token=token,
        transport=_FailingAfter(pages=2),
        retry=RetryPolicy(attempts=1),
    )
    export = tmp_path / "export"
    with pytest.raises(TransportError):
        export_log(flaky, export, page_size=10)
    with pytest.raises(IncompleteExportError) as caught:
        audit_source(ExportSource(export))
    assert (caught.value.records, caught.value.checkpoint_size) == (20, 25)
    resumed = export_log(Client(function_urls=function_servers, token=token), export, page_size=10)
    assert (resumed.records, resumed.new_records, resumed.complete) == (25, 5, True)
    assert audit_source(ExportSource(export)).records == 25


def test_point_in_time_reads_with_the_client_and_the_cli(
    cli_env: None, function_servers: dict[str, str], keys: Keys, tenant: str
) -> None:
    client = Client(function_urls=function_servers, token=keys.token(tenant))
    skill = client.create("Skill", SKILL)
    certified = client.supersede(
        skill.entity_id, expected_version=1, status="certified", reason="reviewed"
    )
    assert client.get(skill.entity_id, as_of_seq=1) == skill
    assert client.get(skill.entity_id, as_of=skill.created_at) == skill
    assert client.get(skill.entity_id, as_of_seq=2) == certified
    then = list(client.list(status="pending_certification", as_of_seq=1, page_size=1))
    assert [r.entity_id for r in then] == [skill.entity_id]
    assert list(client.list(status="pending_certification")) == []
    with pytest.raises(NotFoundError):
        client.get(skill.entity_id, as_of_seq=3)

    got = _plant("get", skill.entity_id, "--as-of-seq", "1", "--output", "json")
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["version"] == 1
    moment = skill.created_at.isoformat()
    at = _plant("get", skill.entity_id, "--as-of", moment, "--output", "json")
    assert at.exit_code == 0, at.stderr
    assert json.loads(at.stdout)["version"] == 1
    listed = _plant(
        "list", "--status", "pending_certification", "--as-of-seq", "1", "--output", "id"
    )
    assert listed.stdout.split() == [skill.entity_id]
    # Both points: the earlier one.
    both = _plant("get", skill.entity_id, "--as-of-seq", "2", "--as-of", moment, "--output", "json")
    assert both.exit_code == 0 and json.loads(both.stdout)["version"] == 1
    naive = _plant("get", skill.entity_id, "--as-of", "2026-12-01T09:30:00")
    assert naive.exit_code == 2 and "--as-of" in naive.stderr
