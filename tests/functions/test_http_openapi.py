"""The OpenAPI documents describe what the functions really do: routes and response bodies.

docs/openapi.json is the dev server's document (paths under each function's mount);
docs/openapi/<function>.json, generated from it by tools/openapi_docs.py, is each
function's own, with paths from the function's root. Both are checked against the routes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from functions import create, query, supersede, verify
from shared.core import entities
from shared.core.canonical import parse_json
from shared.core.errors import InputError, ValidationError
from tests.functions.http_support import REPO, Api
from tools import openapi_docs

SPEC: dict[str, Any] = json.loads((REPO / "docs" / "openapi.json").read_text())
FUNCTION_SPECS: dict[str, dict[str, Any]] = {
    target: json.loads((REPO / "docs" / "openapi" / f"{target}.json").read_text())
    for target in openapi_docs.FUNCTIONS
}
ROUTERS = {
    "create": create.ROUTES,
    "query": query.ROUTES,
    "supersede": supersede.ROUTES,
    "verify": verify.ROUTES,
}


def _spec_path(target: str, path: str) -> str:
    """Where the dev server's document lists ``path`` of ``target``: under its mount."""
    return f"/{target}" if path == "/" else f"/{target}{path}"


def test_function_documents_are_generated_from_the_source() -> None:
    assert openapi_docs.main(["--check"]) == 0


def test_each_function_document_lists_exactly_its_routes_at_its_root() -> None:
    for target, router in ROUTERS.items():
        spec = FUNCTION_SPECS[target]
        routes = {(route.pattern, route.method.lower()) for route in router.routes}
        documented = {(path, method) for path, item in spec["paths"].items() for method in item}
        assert routes == documented, target
        assert not [path for path in spec["paths"] if path != "/" and path.endswith("/")]
        servers = [server["url"] for server in spec["servers"]]
        assert f"http://127.0.0.1:8080/{target}" in servers
        assert "http://127.0.0.1:8081" in servers


def test_records_are_typed_by_entity_type() -> None:
    schemas = SPEC["components"]["schemas"]
    record = schemas["VersionRecord"]
    assert record["discriminator"]["propertyName"] == "entity_type"
    for entity_type, ref in record["discriminator"]["mapping"].items():
        variant = schemas[ref.split("/")[-1]]
        typed = variant["allOf"][1]["properties"]
        assert typed["entity_type"]["const"] == entity_type
        assert typed["data"]["$ref"].endswith(f"/{entity_type}Data")
    assert {ref["$ref"] for ref in record["oneOf"]} == set(
        record["discriminator"]["mapping"].values()
    )


def test_every_route_is_documented_and_nothing_else() -> None:
    routes = {
        (_spec_path(target, route.pattern), route.method.lower())
        for target, router in ROUTERS.items()
        for route in router.routes
    }
    documented = {
        (path, method)
        for path, item in SPEC["paths"].items()
        for method in item
        if path != "/healthz"
    }
    assert routes == documented
    assert not [path for path in SPEC["paths"] if path.endswith("/")]


def test_documented_query_parameters_match_the_routes() -> None:
    for target, router in ROUTERS.items():
        for route in router.routes:
            operation = SPEC["paths"][_spec_path(target, route.pattern)][route.method.lower()]
            names = set()
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = SPEC["components"]["parameters"][parameter["$ref"].split("/")[-1]]
                if parameter["in"] == "query":
                    names.add(parameter["name"])
            assert names == set(route.query), route.op


def check(response: TestResponse, target: str, template: str, method: str = "get") -> Any:
    """Validate a real response against the function's own document, for its status."""
    spec = FUNCTION_SPECS[target]
    operation = spec["paths"][template][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{status} undocumented for {target}{template}"
    documented = operation["responses"][status]
    if "$ref" in documented:
        documented = spec["components"]["responses"][documented["$ref"].split("/")[-1]]
    media = response.mimetype
    assert media in documented["content"], media
    schema = {**documented["content"][media]["schema"], "components": spec["components"]}
    body = response.get_json(force=True)
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    for header in documented.get("headers", {}):
        if header != "Idempotent-Replayed":
            assert header in response.headers, header
    return body


def test_openapi_is_a_valid_schema_set() -> None:
    for spec in (SPEC, *FUNCTION_SPECS.values()):
        Draft202012Validator.check_schema({"$defs": spec["components"]["schemas"]})
        assert spec["openapi"].startswith("3.1")


@pytest.mark.integration
@pytest.mark.usefixtures("real_registry")
def test_real_responses_conform(api: Api, other_api: Api) -> None:
    skill = {"name": "Python", "description": "The language", "category": "technical"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    created = check(
        api.call("create", "POST", "/", json={"entity_type": "Skill", "data": skill}, headers=key),
        "create",
        "/",
        "post",
    )
    check(
        api.call("create", "POST", "/", json={"entity_type": "Skill", "data": skill}, headers=key),
        "create",
        "/",
        "post",
    )
    entity = created["entity_id"]
    check(
        api.call(
            "create",
            "POST",
            "/batch",
            json={
                "entities": [
                    {"entity_type": "Industry", "data": {"name": "Retail", "description": "Shops"}}
                ]
            },
        ),
        "create",
        "/batch",
        "post",
    )
    url = f"/entities/{entity}"
    check(
        api.call(
            "supersede",
            "POST",
            url,
            json={"expected_version": 1, "status": "certified", "reason": "ok"},
        ),
        "supersede",
        "/entities/{entity_id}",
        "post",
    )
    check(
        api.call(
            "supersede",
            "POST",
            url,
            json={"expected_version": 1, "status": "retired", "reason": "x"},
        ),
        "supersede",
        "/entities/{entity_id}",
        "post",
    )
    check(api.call("query", "GET", url), "query", "/entities/{entity_id}")
    check(api.call("query", "GET", f"{url}?version=1"), "query", "/entities/{entity_id}")
    check(api.call("query", "GET", f"{url}/history"), "query", "/entities/{entity_id}/history")
    check(api.call("query", "GET", "/entities?limit=1"), "query", "/entities")
    check(api.call("query", "GET", "/log"), "query", "/log")
    check(api.call("verify", "GET", url), "verify", "/entities/{entity_id}")
    check(api.call("verify", "GET", "/checkpoint"), "verify", "/checkpoint")
    check(api.call("verify", "GET", "/consistency?first=1&second=3"), "verify", "/consistency")
    check(api.call("verify", "GET", "/keys", auth=False), "verify", "/keys")
    check(api.call("verify", "POST", "/audit"), "verify", "/audit", "post")
    # Errors conform too.
    check(other_api.call("query", "GET", url), "query", "/entities/{entity_id}")
    check(api.call("query", "GET", url, auth=False), "query", "/entities/{entity_id}")
    check(api.call("query", "GET", url, scopes=""), "query", "/entities/{entity_id}")
    check(api.call("query", "GET", "/entities?limit=0"), "query", "/entities")
    check(api.call("query", "DELETE", url), "query", "/entities/{entity_id}", "get")
    check(
        api.call("create", "POST", "/", data=b"{}", content_type="text/plain"),
        "create",
        "/",
        "post",
    )
    check(
        api.call("create", "POST", "/", json={"entity_type": "Skill", "data": {}}),
        "create",
        "/",
        "post",
    )
    reused = {"entity_type": "Skill", "data": {**skill, "name": "Go"}}
    check(api.call("create", "POST", "/", json=reused, headers=key), "create", "/", "post")
    check(
        api.call("create", "POST", "/", data=b"x" * 10_000, content_type="application/json"),
        "create",
        "/",
        "post",
    )
    check(
        api.call(
            "supersede",
            "POST",
            url,
            json={"expected_version": 1, "status": "deprecated", "reason": "late"},
        ),
        "supersede",
        "/entities/{entity_id}",
        "post",
    )


# --- the schemas admit exactly what the code accepts ------------------------------------

_TEXTS = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "Zs", "Cc", "P")), max_size=210
) | st.builds(
    lambda pad, core: pad + core + pad,
    st.sampled_from(["", " ", "\t\n", "\u3000"]),
    st.text(max_size=202),
)


def _schema_admits(name: str, value: object) -> bool:
    schema = {**SPEC["components"]["schemas"][name], "components": SPEC["components"]}
    return bool(Draft202012Validator(schema).is_valid(value))


def _code_accepts(field: str, value: str) -> bool:
    data = {"name": "n", "description": "d", field: value}
    try:
        parse_json(json.dumps({"v": value}).encode())
        entities.validate_data("Industry", data)
    except (InputError, ValidationError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_names_and_descriptions_admit_what_the_validator_accepts(value: str) -> None:
    assert _schema_admits("Name", value) == _code_accepts("name", value), repr(value)
    assert _schema_admits("Description", value) == _code_accepts("description", value)


@pytest.mark.parametrize(
    ("name", "value", "admitted"),
    [
        ("Name", "x" * 200, True),
        ("Name", " " + "x" * 200 + "\n", True),
        ("Name", "x" * 201, False),
        ("Name", "   ", False),
        ("Name", "", False),
        ("Name", "a\u0000b", False),
        ("Reason", "r" * 1000, True),
        ("Reason", "r" * 1001, False),
        ("Tag", "t" * 64, True),
        ("Tag", "t" * 65, False),
    ],
)
def test_text_bounds_are_the_validators(name: str, value: str, admitted: bool) -> None:
    assert _schema_admits(name, value) is admitted


def test_data_of_one_type_is_not_another_types() -> None:
    team = {
        "name": "T",
        "description": "d",
        "job_role_id": "01900000-0000-7000-8000-000000000000",
        "agents": ["01900000-0000-7000-8000-000000000001"],
    }
    skill = {"name": "S", "description": "d", "category": "technical"}
    assert _schema_admits("TeamData", team) and not _schema_admits("SkillData", team)
    assert _schema_admits("EntityData", team) and _schema_admits("EntityData", skill)
    assert not _schema_admits("EntityData", {**team, "category": "technical"})
    create = {"entity_type": "Team", "data": skill}
    assert not _schema_admits("CreateRequest", create)
    # Optional ids may be null, as the validator treats null as absent.
    assert _schema_admits("TeamData", {**team, "industry_id": None})
    assert _schema_admits(
        "SupersedeRequest", {"expected_version": 31.0, "reason": "r", "status": "retired"}
    )
    assert not _schema_admits("SupersedeRequest", {"expected_version": 1, "reason": "r"})
