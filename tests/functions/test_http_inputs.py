"""Every input rejection in the contract: 415, 413, strict JSON, fields, query parameters."""

from __future__ import annotations

import io
from typing import Any

import pytest

from shared.core.commands import FORBIDDEN_FIELDS
from tests.functions.http_support import MAX_BATCH_BODY, MAX_BODY, Api, assert_problem
from tests.functions.registry_fake import FakeRegistry

SKILL = {"name": "Python", "description": "The language", "category": "technical"}
CREATE = {"entity_type": "Skill", "data": SKILL}


def _post_raw(api: Api, target: str, path: str, raw: bytes, **kw: Any) -> Any:
    kw.setdefault("content_type", "application/json")
    return api.call(target, "POST", path, data=raw, **kw)


# --- media type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ],
)
@pytest.mark.parametrize(("target", "path"), [("create", "/"), ("supersede", "/entities/e1")])
def test_non_json_bodies_are_415(
    api: Api, fake_registry: FakeRegistry, content_type: str | None, target: str, path: str
) -> None:
    response = api.call(target, "POST", path, data=b"{}", content_type=content_type)
    assert_problem(response, 415, "unsupported-media-type")
    assert fake_registry.calls == []


def test_json_with_utf8_charset_is_accepted(api: Api, fake_registry: FakeRegistry) -> None:
    import json

    response = _post_raw(
        api,
        "create",
        "/",
        json.dumps(CREATE).encode(),
        content_type="application/json; charset=UTF-8",
    )
    assert response.status_code == 201


# --- size ----------------------------------------------------------------------------


def _big_create(size: int) -> bytes:
    import json

    body = json.dumps({"entity_type": "Skill", "data": {**SKILL, "description": ""}})
    padding = size - len(body)
    return json.dumps(
        {"entity_type": "Skill", "data": {**SKILL, "description": "x" * padding}}
    ).encode()


def test_body_over_limit_by_content_length_is_413(api: Api, fake_registry: FakeRegistry) -> None:
    body = assert_problem(
        _post_raw(api, "create", "/", _big_create(MAX_BODY + 1)), 413, "payload-too-large"
    )
    assert body["max_bytes"] == MAX_BODY
    assert fake_registry.calls == []


def test_body_at_limit_is_not_413(api: Api, fake_registry: FakeRegistry) -> None:
    raw = _big_create(MAX_BODY)
    assert len(raw) == MAX_BODY
    assert _post_raw(api, "create", "/", raw).status_code == 201


def test_chunked_body_over_limit_is_413_on_bytes_read(
    api: Api, fake_registry: FakeRegistry
) -> None:
    # No Content-Length at all: only counting the bytes actually read can catch this.
    response = api.client("create").open(
        "/",
        method="POST",
        input_stream=io.BytesIO(_big_create(MAX_BODY * 3)),
        headers={
            "Authorization": f"Bearer {api.token()}",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/json",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413, "payload-too-large")
    assert fake_registry.calls == []


def test_chunked_body_within_limit_is_read(api: Api, fake_registry: FakeRegistry) -> None:
    response = api.client("create").open(
        "/",
        method="POST",
        input_stream=io.BytesIO(_big_create(MAX_BODY - 10)),
        headers={
            "Authorization": f"Bearer {api.token()}",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/json",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 201


def test_batch_has_its_own_larger_limit(api: Api, fake_registry: FakeRegistry) -> None:
    import json

    entities = [{"entity_type": "Skill", "data": {**SKILL, "name": f"S{i}"}} for i in range(60)]
    raw = json.dumps({"entities": entities}).encode()
    assert MAX_BODY < len(raw) < MAX_BATCH_BODY
    assert _post_raw(api, "create", "/batch", raw).status_code == 201
    huge = json.dumps({"entities": entities * 40}).encode()
    assert len(huge) > MAX_BATCH_BODY
    assert_problem(_post_raw(api, "create", "/batch", huge), 413, "payload-too-large")


# --- strict JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"entity_type": "Skill", "data": {"name": "\xff\xfe"}}', "invalid UTF-8"),
        (b'{"entity_type": "Skill", "entity_type": "Agent", "data": {}}', "duplicate key"),
        (b'{"entity_type": "Skill", "data": {"name": "a", "name": "b"}}', "nested duplicate"),
        (b'{"entity_type": "Skill", "data": {"n": NaN}}', "NaN"),
        (b'{"entity_type": "Skill", "data": {"n": Infinity}}', "Infinity"),
        (b'{"entity_type": "Skill", "data": {"n": -Infinity}}', "-Infinity"),
        (b'{"entity_type": "Skill", "data": {"name": "a\\u0000b"}}', "NUL"),
        (b'{"entity_type": "Skill", "data": {"name": "\\ud800"}}', "lone surrogate"),
        (b'\xef\xbb\xbf{"entity_type": "Skill", "data": {}}', "BOM"),
        (b'{"entity_type": "Skill", "data": {}', "truncated"),
        (b'{"entity_type": "Skill", "data": {}} trailing', "trailing data"),
        (b"", "empty"),
        (b"[]", "array"),
        (b'"text"', "string"),
        (b"null", "null"),
    ],
)
def test_malformed_json_is_400(api: Api, fake_registry: FakeRegistry, raw: bytes, why: str) -> None:
    response = _post_raw(api, "create", "/", raw)
    assert response.status_code == 400, why
    assert response.get_json()["type"].rsplit("/", 1)[1] in {"invalid-input", "invalid-json"}
    assert fake_registry.calls == []


def test_nesting_over_64_is_400(api: Api, fake_registry: FakeRegistry) -> None:
    deep = b'{"entity_type": "Skill", "data": ' + b'{"a": ' * 64 + b"1" + b"}" * 64 + b"}"
    body = assert_problem(_post_raw(api, "create", "/", deep), 400, "invalid-json")
    assert body["path"].startswith("$.data")
    assert fake_registry.calls == []


def test_json_error_names_the_path(api: Api, fake_registry: FakeRegistry) -> None:
    raw = b'{"entity_type": "Skill", "data": {"tags": ["a", NaN]}}'
    body = assert_problem(_post_raw(api, "create", "/", raw), 400, "invalid-json")
    assert "path" in body


# --- fields --------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(FORBIDDEN_FIELDS))
def test_forbidden_fields_are_400_on_create(
    api: Api, fake_registry: FakeRegistry, field: str
) -> None:
    response = api.call("create", "POST", "/", json={**CREATE, field: "forged"})
    body = assert_problem(response, 400, "invalid-input")
    assert body["path"] == f"$.{field}"
    assert "set by the registry" in body["detail"]
    assert fake_registry.calls == []


@pytest.mark.parametrize("field", ["tenant_id", "seq", "signature", "created_by", "created_at"])
def test_forbidden_fields_are_400_on_supersede_and_batch(
    api: Api, fake_registry: FakeRegistry, field: str
) -> None:
    response = api.call(
        "supersede", "POST", "/entities/e1", json={"expected_version": 1, "reason": "r", field: "x"}
    )
    assert_problem(response, 400, "invalid-input")
    response = api.call("create", "POST", "/batch", json={"entities": [{**CREATE, field: "x"}]})
    body = assert_problem(response, 400, "invalid-input")
    assert body["path"] == f"$.entities[0].{field}"
    assert fake_registry.calls == []


@pytest.mark.parametrize(
    ("target", "path", "body"),
    [
        ("create", "/", {**CREATE, "colour": "red"}),
        ("create", "/batch", {"entities": [CREATE], "atomic": True}),
        ("supersede", "/entities/e1", {"expected_version": 1, "reason": "r", "force": True}),
    ],
)
def test_unknown_fields_are_400(
    api: Api, fake_registry: FakeRegistry, target: str, path: str, body: dict[str, Any]
) -> None:
    assert_problem(api.call(target, "POST", path, json=body), 400, "invalid-input")
    assert fake_registry.calls == []


def test_unknown_field_with_odd_name_is_not_echoed(api: Api, fake_registry: FakeRegistry) -> None:
    response = api.call("create", "POST", "/", json={**CREATE, "<img src=x>": 1})
    body = assert_problem(response, 400, "invalid-input")
    assert "<img" not in response.get_data(as_text=True)
    assert body["path"] == "$.?"


@pytest.mark.parametrize(
    ("target", "path", "body", "missing"),
    [
        ("create", "/", {"data": SKILL}, "entity_type"),
        ("create", "/", {"entity_type": "Skill"}, "data"),
        ("create", "/batch", {}, "entities"),
        ("supersede", "/entities/e1", {"reason": "r"}, "expected_version"),
        ("supersede", "/entities/e1", {"expected_version": 1}, "reason"),
    ],
)
def test_missing_required_fields_are_400(
    api: Api,
    fake_registry: FakeRegistry,
    target: str,
    path: str,
    body: dict[str, Any],
    missing: str,
) -> None:
    problem = assert_problem(api.call(target, "POST", path, json=body), 400, "invalid-input")
    assert problem["path"] == f"$.{missing}"


def test_audit_takes_nothing_but_a_mode(api: Api, fake_registry: FakeRegistry) -> None:
    assert_problem(api.call("verify", "POST", "/audit", json={"full": True}), 400, "invalid-input")
    for bad in ("fast", 1, None, ["roots"]):
        problem = assert_problem(
            api.call("verify", "POST", "/audit", json={"mode": bad}), 400, "invalid-input"
        )
        assert problem["path"] == "$.mode"
    assert_problem(
        api.call("verify", "POST", "/audit", data=b"x", content_type="text/plain"),
        415,
        "unsupported-media-type",
    )
    assert api.call("verify", "POST", "/audit").status_code == 200
    assert api.call("verify", "POST", "/audit", json={}).status_code == 200
    assert api.call("verify", "POST", "/audit", json={"mode": "signatures"}).status_code == 200
    assert [c for c in fake_registry.calls if c.startswith("audit")] == [
        "audit:roots",
        "audit:roots",
        "audit:signatures",
    ]


# --- query parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("query", "/entities?limit=0"),
        ("query", "/entities?limit=201"),
        ("query", "/entities?limit=-1"),
        ("query", "/entities?limit=abc"),
        ("query", "/entities?limit=1.5"),
        ("query", "/entities?limit=1e2"),
        ("query", "/entities?limit=+5"),
        ("query", "/entities?limit=%205"),
        ("query", "/entities?limit="),
        ("query", "/entities?limit=99999999999999999999"),
        ("query", "/entities?limit=5&limit=6"),
        ("query", "/entities?cursor="),
        ("query", "/entities?entity_type=%00"),
        ("query", "/entities?sort=name"),
        ("query", "/entities/e1?version=0"),
        ("query", "/entities/e1?version=x"),
        ("query", "/entities/e1?version=-1"),
        ("query", "/entities/e1/history?version=1"),
        ("query", "/log?from_seq=0"),
        ("query", "/log?limit=1001"),
        ("query", "/log?limit=0"),
        ("query", "/log?from_seq=abc"),
        ("verify", "/entities/e1?version=0"),
        # Beyond what the integer and bigint columns hold (schemathesis found these).
        ("query", "/entities/e1?version=2147483648"),
        ("verify", "/entities/e1?version=4778261618"),
        ("query", "/log?from_seq=9223372036854775808"),
        ("verify", "/consistency?first=1&second=9223372036854775808"),
        ("verify", "/consistency?first=1"),
        ("verify", "/consistency?second=2"),
        ("verify", "/consistency?first=0&second=2"),
        ("verify", "/consistency?first=a&second=2"),
        ("verify", "/checkpoint?size=3"),
    ],
)
def test_bad_query_parameters_are_400(
    api: Api, fake_registry: FakeRegistry, target: str, url: str
) -> None:
    body = assert_problem(api.call(target, "GET", url), 400, "invalid-input")
    assert body["path"].startswith("query.")
    assert fake_registry.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "/entities?limit=1",
        "/entities?limit=200",
        "/log?limit=1000&from_seq=1",
        # The largest seq a BIGINT holds: a whole number the spec admits, so accepted.
        "/log?from_seq=9223372036854775807",
    ],
)
def test_limits_at_the_bounds_are_accepted(api: Api, fake_registry: FakeRegistry, url: str) -> None:
    assert api.call("query", "GET", url).status_code == 200


def test_tampered_cursor_is_400(api: Api, fake_registry: FakeRegistry) -> None:
    assert_problem(api.call("query", "GET", "/entities?cursor=not-a-cursor!"), 400, "invalid-input")


# --- Idempotency-Key -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "a b", "x" * 256, "caf\u00e9", "tab\there"])
def test_malformed_idempotency_keys_are_400(
    api: Api, fake_registry: FakeRegistry, key: str
) -> None:
    response = api.call("create", "POST", "/", json=CREATE, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert fake_registry.calls == []
