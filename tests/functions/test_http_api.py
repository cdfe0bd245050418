"""The HTTP contract end to end in process, over the real Registry and test database."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from shared.core.principal import SCOPE_READ, SCOPE_WRITE
from tests.functions.http_support import Api, assert_problem

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]


def skill(name: str = "Python", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"{name} skill", "category": "technical", **extra}


def created(api: Api, entity_type: str, data: dict[str, Any]) -> dict[str, Any]:
    response = api.create(entity_type, data)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def supersede(api: Api, entity_id: str, **body: Any) -> Any:
    return api.call("supersede", "POST", f"/entities/{entity_id}", json=body)


def test_walkthrough_create_certify_require_supersede_history_verify(api: Api) -> None:
    python = created(api, "Skill", skill())
    assert python["version"] == 1
    assert python["status"] == "pending_certification"
    assert python["tenant_id"] == api.tenant
    assert python["created_by"] == "alice"

    certified = supersede(
        api, python["entity_id"], expected_version=1, status="certified", reason="reviewed"
    )
    assert certified.status_code == 201, certified.get_json()
    assert certified.get_json()["version"] == 2
    assert certified.get_json()["status"] == "certified"

    role = created(
        api,
        "JobRole",
        {
            "name": "Backend engineer",
            "description": "Builds APIs",
            "seniority_level": "mid",
            "required_skills": [python["entity_id"]],
        },
    )
    promoted = supersede(
        api,
        role["entity_id"],
        expected_version=1,
        reason="promotion",
        data={
            "name": "Backend engineer",
            "description": "Builds APIs",
            "seniority_level": "senior",
            "required_skills": [python["entity_id"]],
        },
    )
    assert promoted.status_code == 201

    history = api.call("query", "GET", f"/entities/{role['entity_id']}/history").get_json()
    assert [item["version"] for item in history["items"]] == [1, 2]
    first = api.call("query", "GET", f"/entities/{role['entity_id']}?version=1").get_json()
    assert first["data"]["seniority_level"] == "mid"
    current = api.call("query", "GET", f"/entities/{role['entity_id']}").get_json()
    assert current["data"]["seniority_level"] == "senior"

    assert api.call("verify", "POST", "/checkpoint").status_code == 200
    report = api.call("verify", "GET", f"/entities/{role['entity_id']}").get_json()
    assert report["valid"] is True
    assert report["record"]["version"] == 2
    assert report["inclusion_proof"]["tree_size"] == report["checkpoint"]["tree_size"]
    assert all(check["ok"] for check in report["checks"])

    old = api.call("verify", "GET", f"/entities/{role['entity_id']}?version=1").get_json()
    assert old["valid"] is True
    assert old["record"]["version"] == 1


def test_list_pagination_and_filters(api: Api) -> None:
    for i in range(5):
        created(api, "Skill", skill(f"S{i}"))
    created(api, "Industry", {"name": "Retail", "description": "Shops"})
    seen: list[str] = []
    url = "/entities?entity_type=Skill&limit=2"
    while url:
        page = api.call("query", "GET", url).get_json()
        assert len(page["items"]) <= 2
        seen += [item["data"]["name"] for item in page["items"]]
        assert all(item["entity_type"] == "Skill" for item in page["items"])
        url = (
            f"/entities?entity_type=Skill&limit=2&cursor={page['next_cursor']}"
            if page["next_cursor"]
            else ""
        )
    assert sorted(seen) == [f"S{i}" for i in range(5)]
    filtered = api.call("query", "GET", "/entities?status=active").get_json()
    assert [item["entity_type"] for item in filtered["items"]] == ["Industry"]


def test_tampered_or_misused_cursor_is_400(api: Api) -> None:
    for i in range(3):
        created(api, "Skill", skill(f"S{i}"))
    cursor = api.call("query", "GET", "/entities?limit=1").get_json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert_problem(
        api.call("query", "GET", f"/entities?limit=1&cursor={tampered}"), 400, "invalid-input"
    )
    assert_problem(
        api.call("query", "GET", f"/entities?limit=1&entity_type=Agent&cursor={cursor}"),
        400,
        "invalid-input",
    )


def test_log_is_in_order_and_pages(api: Api) -> None:
    for i in range(3):
        created(api, "Skill", skill(f"S{i}"))
    page = api.call("query", "GET", "/log?limit=2").get_json()
    assert [item["seq"] for item in page["items"]] == [1, 2]
    assert page["next_from_seq"] == 3
    rest = api.call("query", "GET", "/log?from_seq=3").get_json()
    assert [item["seq"] for item in rest["items"]] == [3]
    assert rest["next_from_seq"] is None


def test_checkpoint_consistency_keys_and_audit(api: Api) -> None:
    created(api, "Skill", skill("A"))
    first = api.call("verify", "POST", "/checkpoint").get_json()
    created(api, "Skill", skill("B"))
    assert api.call("verify", "GET", "/checkpoint").get_json() == first  # reads never sign
    second = api.call("verify", "POST", "/checkpoint").get_json()
    assert api.call("verify", "GET", "/checkpoint").get_json() == second
    assert (first["tree_size"], second["tree_size"]) == (1, 2)
    proof = api.call("verify", "GET", "/consistency?first=1&second=2")
    assert proof.status_code == 200
    body = proof.get_json()
    assert (body["first_checkpoint"], body["second_checkpoint"]) == (first, second)
    assert body["first_root"] == first["root_hash"] and body["valid"] is True
    assert_problem(api.call("verify", "GET", "/consistency?first=2&second=1"), 400, "invalid-input")
    keys = api.call("verify", "GET", "/keys", auth=False).get_json()["keys"]
    assert second["key_id"] in {key["key_id"] for key in keys}
    audit = api.call("verify", "POST", "/audit").get_json()
    assert audit["valid"] is True
    assert (audit["mode"], audit["records_checked"], audit["signatures_checked"]) == ("roots", 2, 0)
    audit = api.call("verify", "POST", "/audit", json={"mode": "signatures"}).get_json()
    assert (audit["mode"], audit["valid"], audit["signatures_checked"]) == ("signatures", True, 2)


def test_batch_is_all_or_nothing(api: Api) -> None:
    ok = api.call(
        "create",
        "POST",
        "/batch",
        json={"entities": [{"entity_type": "Skill", "data": skill(f"B{i}")} for i in range(3)]},
    )
    assert ok.status_code == 201
    assert len(ok.get_json()["items"]) == 3
    bad = api.call(
        "create",
        "POST",
        "/batch",
        json={
            "entities": [
                {"entity_type": "Skill", "data": skill("C1")},
                {"entity_type": "Skill", "data": {"name": "C2"}},
            ]
        },
    )
    body = assert_problem(bad, 422, "validation-failed")
    assert body["path"].startswith("$.entities[1]")
    names = [i["data"]["name"] for i in api.call("query", "GET", "/entities").get_json()["items"]]
    assert "C1" not in names
    empty = api.call("create", "POST", "/batch", json={"entities": []})
    assert empty.status_code in (400, 422)


def test_rule_violations_are_422_with_the_field_path(api: Api) -> None:
    body = assert_problem(api.create("Skill", skill(category="cooking")), 422, "validation-failed")
    assert body["path"] == "$.data.category"
    assert_problem(api.create("Spaceship", {"name": "x"}), 422, "validation-failed")
    python = created(api, "Skill", skill())
    retired = supersede(
        api, python["entity_id"], expected_version=1, status="retired", reason="gone"
    )
    assert retired.status_code == 201
    back = supersede(
        api, python["entity_id"], expected_version=2, status="certified", reason="undo"
    )
    assert_problem(back, 422, "invalid-transition")


def test_certify_needs_admin(api: Api) -> None:
    python = created(api, "Skill", skill())
    response = api.call(
        "supersede",
        "POST",
        f"/entities/{python['entity_id']}",
        json={"expected_version": 1, "status": "certified", "reason": "r"},
        scopes=f"{SCOPE_READ} {SCOPE_WRITE}",
    )
    assert_problem(response, 403, "forbidden")


def test_unknown_entities_are_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    for target, method, path in [
        ("query", "GET", f"/entities/{missing}"),
        ("query", "GET", f"/entities/{missing}/history"),
        ("query", "GET", "/entities/not-a-uuid"),
        ("verify", "GET", f"/entities/{missing}"),
    ]:
        assert_problem(api.call(target, method, path), 404, "not-found")
    assert_problem(
        supersede(api, missing, expected_version=1, reason="r", data=skill()), 404, "not-found"
    )
    python = created(api, "Skill", skill())
    assert_problem(
        api.call("query", "GET", f"/entities/{python['entity_id']}?version=9"), 404, "not-found"
    )


def test_other_tenants_entities_are_404_everywhere(api: Api, other_api: Api) -> None:
    python = created(api, "Skill", skill())
    entity = python["entity_id"]
    for target, path in [
        ("query", f"/entities/{entity}"),
        ("query", f"/entities/{entity}?version=1"),
        ("query", f"/entities/{entity}/history"),
        ("verify", f"/entities/{entity}"),
    ]:
        assert_problem(other_api.call(target, "GET", path), 404, "not-found")
    assert_problem(
        supersede(other_api, entity, expected_version=1, reason="hijack", data=skill("Evil")),
        404,
        "not-found",
    )
    assert other_api.call("query", "GET", "/entities").get_json()["items"] == []
    assert other_api.call("query", "GET", "/log").get_json()["items"] == []
    # The owner's entity is untouched by the attempt.
    assert api.call("query", "GET", f"/entities/{entity}").get_json()["version"] == 1


def test_idempotent_create_replays_and_refuses_key_reuse(api: Api) -> None:
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = api.call(
        "create", "POST", "/", json={"entity_type": "Skill", "data": skill()}, headers=key
    )
    again = api.call(
        "create", "POST", "/", json={"entity_type": "Skill", "data": skill()}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = api.call(
        "create", "POST", "/", json={"entity_type": "Skill", "data": skill("Rust")}, headers=key
    )
    assert_problem(reused, 422, "idempotency-key-reused")
    assert len(api.call("query", "GET", "/entities").get_json()["items"]) == 1


def test_idempotency_keys_are_per_tenant(api: Api, other_api: Api) -> None:
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    mine = api.call(
        "create", "POST", "/", json={"entity_type": "Skill", "data": skill()}, headers=key
    )
    theirs = other_api.call(
        "create", "POST", "/", json={"entity_type": "Skill", "data": skill("Go")}, headers=key
    )
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["tenant_id"] == other_api.tenant


def test_idempotent_supersede_and_batch_replay(api: Api) -> None:
    python = created(api, "Skill", skill())
    key = {"Idempotency-Key": f"sup-{uuid.uuid4()}"}
    body = {"expected_version": 1, "status": "certified", "reason": "ok"}
    url = f"/entities/{python['entity_id']}"
    first = api.call("supersede", "POST", url, json=body, headers=key)
    again = api.call("supersede", "POST", url, json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    batch_key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    batch = {"entities": [{"entity_type": "Skill", "data": skill("Go")}]}
    b1 = api.call("create", "POST", "/batch", json=batch, headers=batch_key)
    b2 = api.call("create", "POST", "/batch", json=batch, headers=batch_key)
    assert b1.status_code == b2.status_code == 201
    assert b1.get_data() == b2.get_data()


def test_stale_supersede_is_409_with_current_version(api: Api) -> None:
    python = created(api, "Skill", skill())
    url = f"/entities/{python['entity_id']}"
    assert (
        api.call(
            "supersede",
            "POST",
            url,
            json={"expected_version": 1, "reason": "a", "data": skill(tags=["x"])},
        ).status_code
        == 201
    )
    stale = api.call(
        "supersede",
        "POST",
        url,
        json={"expected_version": 1, "reason": "b", "data": skill(tags=["y"])},
    )
    body = assert_problem(stale, 409, "version-conflict")
    assert body["current_version"] == 2


def test_concurrent_supersedes_of_one_version_have_one_winner(api: Api) -> None:
    python = created(api, "Skill", skill())
    url = f"/entities/{python['entity_id']}"
    token = api.token()
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []
    barrier = threading.Barrier(8)
    lock = threading.Lock()

    def attempt(i: int) -> None:
        # Threads share the process runtime exactly as gunicorn's threads would.
        client = api.client("supersede")
        barrier.wait()
        response = client.post(
            url,
            json={"expected_version": 1, "reason": f"writer {i}", "data": skill(tags=[f"t{i}"])},
            headers={"Authorization": f"Bearer {token}"},
        )
        with lock:
            statuses.append(response.status_code)
            bodies.append(response.get_json())

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 7, bodies
    assert all(b["current_version"] == 2 for b in bodies if b["status"] == 409)
    history = api.call("query", "GET", f"{url}/history").get_json()["items"]
    assert [item["version"] for item in history] == [1, 2]
