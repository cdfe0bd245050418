"""Each function routes only its own paths and methods: 404, 405 with Allow, OPTIONS."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.functions.http_support import TARGETS, Api, assert_problem
from tests.functions.registry_fake import FakeRegistry
from tools import devserver

# (target, path, the methods it allows)
RESOURCES = [
    ("create", "/", "POST, OPTIONS"),
    ("create", "/batch", "POST, OPTIONS"),
    ("query", "/entities", "GET, HEAD, OPTIONS"),
    ("query", "/entities/e1", "GET, HEAD, OPTIONS"),
    ("query", "/entities/e1/history", "GET, HEAD, OPTIONS"),
    ("query", "/log", "GET, HEAD, OPTIONS"),
    ("supersede", "/entities/e1", "POST, OPTIONS"),
    ("verify", "/entities/e1", "GET, HEAD, OPTIONS"),
    ("verify", "/checkpoint", "GET, HEAD, POST, OPTIONS"),
    ("verify", "/consistency", "GET, HEAD, OPTIONS"),
    ("verify", "/keys", "GET, HEAD, OPTIONS"),
    ("verify", "/audit", "POST, OPTIONS"),
    *((target, "/healthz", "GET, HEAD, OPTIONS") for target in TARGETS),
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND"]


@pytest.mark.parametrize(("target", "path", "allow"), RESOURCES)
def test_wrong_methods_are_405_with_allow(
    api: Api, fake_registry: FakeRegistry, target: str, path: str, allow: str
) -> None:
    for method in METHODS:
        if method in allow.split(", "):
            continue
        response = api.call(target, method, path, json={})
        body = assert_problem(response, 405, "method-not-allowed")
        assert response.headers["Allow"] == allow
        assert body["allow"] == allow.split(", ")
    # Nothing reached the registry: a refused method never creates or reads.
    assert fake_registry.calls == []


@pytest.mark.parametrize(("target", "path", "allow"), RESOURCES)
def test_options_lists_allowed_methods(
    api: Api, fake_registry: FakeRegistry, target: str, path: str, allow: str
) -> None:
    response = api.call(target, "OPTIONS", path, auth=False)
    assert response.status_code == 204
    assert response.headers["Allow"] == allow
    assert fake_registry.calls == []


def test_trace_on_create_does_not_create(api: Api, fake_registry: FakeRegistry) -> None:
    response = api.call("create", "TRACE", "/", json={"entity_type": "Skill", "data": {}})
    assert_problem(response, 405, "method-not-allowed")
    assert fake_registry.calls == []


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("create", "/entities"),
        ("create", "/batch/"),
        ("create", "/x"),
        ("query", "/"),
        ("query", "/entities/"),
        ("query", "/entities/e1/history/"),
        ("query", "/entities/e1/versions"),
        ("query", "/checkpoint"),
        ("query", "/entities/a%2Fb"),
        ("query", "/entities/" + "a" * 200),
        ("query", "/entities/<script>"),
        ("supersede", "/"),
        ("supersede", "/entities"),
        ("supersede", "/entities/e1/history"),
        ("verify", "/"),
        ("verify", "/log"),
        ("verify", "/keys/extra"),
    ],
)
def test_unknown_paths_are_404(
    api: Api, fake_registry: FakeRegistry, target: str, path: str
) -> None:
    for method in ("GET", "POST"):
        assert_problem(api.call(target, method, path, json={}), 404, "not-found")
    assert fake_registry.calls == []


def test_head_is_served_like_get_without_a_body(api: Api, fake_registry: FakeRegistry) -> None:
    response = api.call("verify", "HEAD", "/keys", auth=False)
    assert response.status_code == 200
    assert response.get_data() == b""


def test_responses_are_not_cacheable_and_carry_a_request_id(
    api: Api, fake_registry: FakeRegistry
) -> None:
    response = api.call("verify", "GET", "/keys", auth=False)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-Id"]) == 36


@pytest.mark.parametrize("target", ["create", "query", "supersede", "verify"])
@pytest.mark.parametrize("path", ["/entities/a%0Ab", "/%0A", "/entities/x%0A/history"])
def test_paths_flask_cannot_route_still_get_problem_json(
    api: Api, fake_registry: FakeRegistry, target: str, path: str
) -> None:
    """An encoded newline never reaches the target; Flask's own 404 is problem+json too."""
    response = api.call(target, "POST" if target in {"create", "supersede"} else "GET", path)
    assert_problem(response, 404, "not-found")
    assert fake_registry.calls == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_function_answers_its_own_health_path(
    api: Api, fake_registry: FakeRegistry, target: str
) -> None:
    response = api.call(target, "GET", "/healthz", auth=False)
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok"}
    fake_registry.fail_with = RuntimeError("database down")
    response = api.call(target, "GET", "/healthz", auth=False)
    assert_problem(response, 503, "storage-unavailable")
    assert response.headers["Retry-After"]


def test_the_dev_server_mount_point_without_a_slash_is_the_function_root(
    api: Api, fake_registry: FakeRegistry
) -> None:
    """``POST /create`` creates as ``POST /create/`` does: no 308 text/html redirect."""
    client = Client(devserver.build_app())
    body = {
        "entity_type": "Skill",
        "data": {"name": "Python", "description": "d", "category": "technical"},
    }
    headers = {"Authorization": f"Bearer {api.token()}"}
    for path in ("/create", "/create/"):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
    assert fake_registry.calls == ["create", "create"]
    assert_problem(client.get("/query", headers=headers), 404, "not-found")
