"""The audit reads the log in bounded chunks, each in its own short transaction.

A long audit used to hold one pooled connection (and one transaction) for its whole
run, starving every other tenant; now it holds one only per chunk, and a tamper in any
chunk is still reported at its seq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import Engine

from shared import audit, signature_workers
from shared.core.audit import AuditMode
from shared.core.commands import parse_batch
from shared.core.principal import Principal
from shared.service import Registry
from tests.integration.helpers import Dba, skill_data

pytestmark = pytest.mark.integration


def _transactions_during(
    monkeypatch: pytest.MonkeyPatch, registry: Registry, action: Callable[[], object]
) -> int:
    repository = registry.repository
    opened = 0
    original = repository.tenant_transaction

    @contextmanager
    def counting(tenant_id: str) -> Iterator[object]:
        nonlocal opened
        opened += 1
        with original(tenant_id) as tx:
            yield tx

    with monkeypatch.context() as patch:
        patch.setattr(repository, "tenant_transaction", counting)
        action()
    return opened


def test_the_audit_works_in_short_transactions_of_bounded_chunks(
    registry: Registry, admin: Principal, runtime_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(35)]}
        ),
    )
    monkeypatch.setattr(audit, "AUDIT_CHUNK", 10)
    reports = []
    begun = _transactions_during(
        monkeypatch, registry, lambda: reports.append(registry.audit(admin))
    )
    assert reports[0].valid, reports[0].to_dict()
    assert reports[0].records_checked == 35
    assert begun >= 5  # the checkpoints, then four chunks of at most 10 records


def test_a_tamper_in_a_later_chunk_is_reported_at_its_seq(
    registry: Registry, admin: Principal, admin_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(30)]}
        ),
    )
    Dba(admin_engine, admin.tenant_id).run(
        "UPDATE registry.entity_versions SET canonical = convert_to(replace(convert_from("
        "canonical, 'UTF8'), 'Writes', 'Forges'), 'UTF8') WHERE tenant_id = :t AND seq = 25"
    )
    monkeypatch.setattr(audit, "AUDIT_CHUNK", 10)
    report = registry.audit(admin)
    assert not report.valid
    assert report.first_bad_seq == 25


def test_the_signatures_mode_verifies_every_record_in_worker_processes(
    registry: Registry, admin: Principal, admin_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(30)]}
        ),
    )
    registry.sign_checkpoint(admin)
    monkeypatch.setattr(audit, "AUDIT_CHUNK", 10)  # more than one chunk: workers start
    monkeypatch.setattr(signature_workers, "SIGNATURE_PIECE", 4)
    intact = registry.audit(admin, AuditMode.SIGNATURES)
    assert intact.valid, intact.to_dict()
    assert (intact.mode, intact.signatures_checked) == (AuditMode.SIGNATURES, 30)
    Dba(admin_engine, admin.tenant_id).run(
        "UPDATE registry.entity_versions SET signature = set_byte(signature, 5, "
        "get_byte(signature, 5) # 1) WHERE tenant_id = :t AND seq IN (17, 26)"
    )
    report = registry.audit(admin, AuditMode.SIGNATURES).to_dict()
    assert (report["valid"], report["first_bad_seq"], report["error"]["check"]) == (
        False,
        17,
        "signature",
    )
    # The roots mode proves these records' bytes by the signed root instead, and says so.
    roots = registry.audit(admin).to_dict()
    assert (roots["valid"], roots["mode"], roots["signatures_checked"]) == (True, "roots", 0)


def test_a_content_tamper_before_a_bad_signature_is_the_first_bad_seq(
    registry: Registry, admin: Principal, admin_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main pass and the workers each find one; the report names the lower seq."""
    registry.create(
        admin,
        parse_batch(
            {"entities": [{"entity_type": "Skill", "data": skill_data()} for _ in range(30)]}
        ),
    )
    dba = Dba(admin_engine, admin.tenant_id)
    dba.run(
        "UPDATE registry.entity_versions SET signature = set_byte(signature, 5, "
        "get_byte(signature, 5) # 1) WHERE tenant_id = :t AND seq = 22"
    )
    dba.run(
        "UPDATE registry.entity_versions SET status = 'retired' WHERE tenant_id = :t AND seq = 14"
    )
    monkeypatch.setattr(audit, "AUDIT_CHUNK", 10)
    report = registry.audit(admin, AuditMode.SIGNATURES)
    assert (report.first_bad_seq, report.failure and report.failure.check) == (14, "content")
