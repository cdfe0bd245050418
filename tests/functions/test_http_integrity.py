"""Never a signing oracle, over HTTP: issue 7's reproductions 1, 2, 5 and 6.

Each test plays a hostile database administrator (superuser, triggers off) and then a
client: a DBA's edit must never come back out signed, be used by a rule, or be served as
genuine, and a replayed Idempotency-Key must not outrank the caller's own token.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.core.hashing import leaf_hash
from shared.core.principal import SCOPE_READ, SCOPE_WRITE
from tests.functions.http_support import Api, assert_problem
from tests.integration.helpers import Dba

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]

WRITER = f"{SCOPE_READ} {SCOPE_WRITE}"


def _skill(name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or f"Skill {uuid.uuid4().hex[:8]}",
        "description": "Writes and reviews Python services",
        "category": "technical",
    }


def _created(api: Api, entity_type: str, data: dict[str, Any]) -> dict[str, Any]:
    response = api.create(entity_type, data)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _supersede(api: Api, entity_id: str, scopes: str | None = None, **body: Any) -> Any:
    headers = body.pop("headers", None)
    kw: dict[str, Any] = {"headers": headers} if headers else {}
    if scopes is not None:
        kw["scopes"] = scopes
    return api.call("supersede", "POST", f"/entities/{entity_id}", json=body, **kw)


def _log(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.call("query", "GET", "/log?limit=1000").get_json()["items"]
    return items


def _count(engine: Engine, tenant: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.scalar(
                sa.text("SELECT count(*) FROM registry.entity_versions WHERE tenant_id = :t"),
                {"t": tenant},
            )
        )


@pytest.fixture
def dba(admin_engine: Engine, api: Api) -> Dba:
    return Dba(admin_engine, api.tenant)


def test_1_supersede_does_not_launder_a_tampered_predecessor(
    api: Api, dba: Dba, admin_engine: Engine
) -> None:
    skill = _created(api, "Skill", _skill())
    _created(api, "Industry", {"name": "Energy", "description": "Power"})  # skill not head
    canonical = api.call("query", "GET", f"/entities/{skill['entity_id']}").get_json()["canonical"]
    forged = base64.b64decode(canonical).replace(b"Writes", b"Forges")
    # A careful DBA keeps bytes, jsonb and leaf hash consistent; only the signature
    # (which needs the service's key) is beyond them.
    dba.run(
        "UPDATE registry.entity_versions SET canonical = :c, leaf_hash = :l, "
        "data = jsonb_set(data, '{description}', '\"Forges and reviews Python services\"') "
        "WHERE tenant_id = :t AND entity_id = CAST(:e AS uuid)",
        c=forged,
        l=leaf_hash(forged),
        e=skill["entity_id"],
    )
    before = _count(admin_engine, api.tenant)

    response = _supersede(
        api, skill["entity_id"], expected_version=1, status="certified", reason="reviewed"
    )

    body = assert_problem(response, 500, "integrity-violation")
    assert body["seq"] == skill["seq"]
    assert body["check"] == "signature"
    assert _count(admin_engine, api.tenant) == before  # nothing was written or signed


def test_2_rules_do_not_read_columns(api: Api, dba: Dba, admin_engine: Engine) -> None:
    skill = _created(api, "Skill", _skill())  # pending_certification
    dba.run(
        "UPDATE registry.entity_versions SET status = 'certified' "
        "WHERE tenant_id = :t AND entity_id = CAST(:e AS uuid)",
        e=skill["entity_id"],
    )
    before = _count(admin_engine, api.tenant)

    response = api.create(
        "JobRole",
        {
            "name": "Backend engineer",
            "description": "Builds APIs",
            "seniority_level": "mid",
            "required_skills": [skill["entity_id"]],
        },
    )

    body = assert_problem(response, 500, "integrity-violation")
    assert (body["seq"], body["check"]) == (skill["seq"], "content")
    assert _count(admin_engine, api.tenant) == before


def test_5_reads_do_not_serve_the_jsonb_copy(api: Api, dba: Dba) -> None:
    skill = _created(api, "Skill", _skill())
    dba.run(
        "UPDATE registry.entity_versions "
        "SET data = jsonb_set(data, '{description}', '\"Edited by the DBA\"') "
        "WHERE tenant_id = :t AND entity_id = CAST(:e AS uuid)",
        e=skill["entity_id"],
    )
    entity_id = skill["entity_id"]
    for path in (
        f"/entities/{entity_id}",
        f"/entities/{entity_id}?version=1",
        f"/entities/{entity_id}/history",
        "/entities?entity_type=Skill",
        "/log",
    ):
        response = api.call("query", "GET", path)
        assert "Edited by the DBA" not in response.get_data(as_text=True), path
        body = assert_problem(response, 500, "integrity-violation")
        assert (body["seq"], body["check"]) == (skill["seq"], "content"), path
    report = api.call("verify", "GET", f"/entities/{entity_id}").get_json()
    assert report["valid"] is False


def test_6_a_replay_re_authorises_the_caller(api: Api) -> None:
    skill = _created(api, "Skill", _skill())
    key = {"Idempotency-Key": f"certify-{uuid.uuid4()}"}
    request: dict[str, Any] = {"expected_version": 1, "status": "certified", "reason": "reviewed"}
    # Without a key the writer may not certify; with the admin's key it must not either.
    assert_problem(_supersede(api, skill["entity_id"], scopes=WRITER, **request), 403, "forbidden")
    first = _supersede(api, skill["entity_id"], headers=key, **request)
    assert first.status_code == 201, first.get_json()

    replay = _supersede(api, skill["entity_id"], scopes=WRITER, headers=key, **request)
    assert_problem(replay, 403, "forbidden")
    assert replay.headers["WWW-Authenticate"].endswith('scope="registry:admin"')

    # The admin still gets the first response back, byte for byte.
    again = _supersede(api, skill["entity_id"], headers=key, **request)
    assert again.status_code == 201
    assert again.get_data() == first.get_data()


def test_6_a_replay_of_a_create_needs_only_what_the_create_needs(api: Api) -> None:
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    data = _skill()
    first = api.create("Skill", data, headers=key)
    assert first.status_code == 201
    replay = api.create("Skill", data, headers=key, scopes=WRITER)
    assert replay.status_code == 201
    assert replay.get_data() == first.get_data()
    read_only = api.create("Skill", data, headers=key, scopes=SCOPE_READ)
    assert_problem(read_only, 403, "forbidden")


def test_6_a_replay_does_not_serve_an_edited_stored_response(api: Api, dba: Dba) -> None:
    key = f"create-{uuid.uuid4()}"
    data = _skill()
    first = api.create("Skill", data, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    # The stored response names only the write's seqs; the replay re-reads the records
    # from the log, so the forgery has to be made there, and is caught there.
    dba.run(
        "UPDATE registry.entity_versions "
        "SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), "
        "'Writes and reviews', 'Forged by the DBA'), 'UTF8') WHERE tenant_id = :t",
    )
    replay = api.create("Skill", data, headers={"Idempotency-Key": key})
    assert "Forged by the DBA" not in replay.get_data(as_text=True)
    assert_problem(replay, 500, "integrity-violation")
    with dba.engine.connect() as conn:  # the replay wrote nothing either
        rows = conn.execute(
            sa.text("SELECT count(*) FROM registry.entity_versions WHERE tenant_id = :t"),
            {"t": api.tenant},
        ).scalar()
    assert rows == 1
