"""``?as_of_seq=`` and ``?as_of=`` over HTTP: answers, and problem+json for bad input."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.functions.http_support import Api

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]

SKILL = {"name": "Python", "description": "The language", "category": "technical"}


def _skill_with_two_versions(api: Api) -> tuple[str, list[dict[str, object]]]:
    created = api.call("create", "POST", "/", json={"entity_type": "Skill", "data": SKILL})
    assert created.status_code == 201
    entity = created.get_json()["entity_id"]
    certified = api.call(
        "supersede",
        "POST",
        f"/entities/{entity}",
        json={"expected_version": 1, "status": "certified", "reason": "ok"},
    )
    assert certified.status_code == 201
    return entity, [created.get_json(), certified.get_json()]


def test_as_of_seq_and_as_of_answer_the_registry_then(api: Api) -> None:
    entity, versions = _skill_with_two_versions(api)
    then = api.call("query", "GET", f"/entities/{entity}?as_of_seq=1")
    assert then.status_code == 200
    assert then.get_json() == versions[0]
    moment = quote(str(versions[0]["created_at"]).replace("Z", "+00:00"))
    at = api.call("query", "GET", f"/entities/{entity}?as_of={moment}")
    assert at.get_json() == versions[0]
    listed = api.call("query", "GET", "/entities?as_of_seq=1&status=pending_certification")
    assert [item["version"] for item in listed.get_json()["items"]] == [1]
    now = api.call("query", "GET", "/entities?status=pending_certification")
    assert now.get_json()["items"] == []
    # Both points: the earlier one. One version as of a point: only once written.
    both = api.call("query", "GET", f"/entities/{entity}?as_of_seq=2&as_of={moment}")
    assert both.get_json() == versions[0]
    assert api.call("query", "GET", f"/entities/{entity}?version=2&as_of_seq=1").status_code == 404
    assert api.call("query", "GET", f"/entities/{entity}?version=1&as_of_seq=2").status_code == 200
    beyond = api.call("query", "GET", f"/entities/{entity}?as_of_seq=3")
    assert beyond.status_code == 404
    assert beyond.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "as_of_seq=0",
        "as_of_seq=-1",
        "as_of_seq=one",
        "as_of_seq=",
        "as_of_seq=1&as_of_seq=2",
        "as_of=yesterday",
        "as_of=2026-12-01",
        "as_of=2026-12-01T09:30:00",
        "as_of=2026-02-30T00:00:00Z",
        "as_of=",
        "as_of_seq=99999999999999999999",
        "status=AAA",
    ],
)
def test_bad_points_are_problem_400s(api: Api, query: str) -> None:
    entity, _ = _skill_with_two_versions(api)
    for path in (f"/entities/{entity}", "/entities"):
        if "status" in query and path != "/entities":
            continue
        response = api.call("query", "GET", f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.get_json())
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["type"].endswith("/invalid-input")
        assert body["path"].startswith(("query.as_of", "query.status"))


def test_another_tenant_sees_nothing_as_of_any_point(api: Api, other_api: Api) -> None:
    entity, _ = _skill_with_two_versions(api)
    assert other_api.call("query", "GET", f"/entities/{entity}?as_of_seq=1").status_code == 404
    listed = other_api.call("query", "GET", "/entities?as_of=2999-01-01T00:00:00Z")
    assert listed.status_code == 200
    assert listed.get_json()["items"] == []
