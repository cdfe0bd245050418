"""The one status table, problem+json bodies, and what never leaks out of them."""

from __future__ import annotations

import json

import pytest

from functions.problems import STATUS_BY_KIND, problem, status_for
from shared.core import errors
from tests.functions.http_support import Api, assert_problem
from tests.functions.registry_fake import FakeRegistry


def _all_error_types() -> list[type[errors.RegistryError]]:
    found: list[type[errors.RegistryError]] = []
    pending: list[type[errors.RegistryError]] = [errors.RegistryError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_kind_in_the_hierarchy_has_a_row() -> None:
    for cls in _all_error_types():
        if cls.__module__ == "shared.core.errors":
            assert cls.kind in STATUS_BY_KIND, cls


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InputError("x"), 400),
        (errors.CanonicalizationError("x"), 400),
        (errors.AuthenticationError("x"), 401),
        (errors.PermissionDeniedError("x"), 403),
        (errors.NotFoundError("x"), 404),
        (errors.ConflictError("x"), 409),
        (errors.VersionConflictError("x", current_version=2), 409),
        (errors.ValidationError("x"), 422),
        (errors.TransitionError("x"), 422),
        (errors.IdempotencyKeyReuseError("x"), 422),
        (errors.StorageError("x"), 503),
        (errors.KeyServiceError("x"), 503),
        (errors.ConfigurationError("x"), 500),
        (errors.VerificationError("x", check="leaf"), 500),
    ],
)
def test_status_table(error: errors.RegistryError, status: int) -> None:
    assert status_for(error) == status


def test_unlisted_subclass_inherits_its_parents_status() -> None:
    class OddInput(errors.InputError):
        kind = "odd-input"

    status, _, body = problem(OddInput("odd"), "r")
    assert status == 400
    assert str(body["type"]).endswith("/invalid-input")


def test_client_errors_are_never_5xx() -> None:
    for cls in _all_error_types():
        if cls.__module__ == "shared.core.errors" and issubclass(
            cls, errors.InputError | errors.ValidationError
        ):
            assert 400 <= STATUS_BY_KIND[cls.kind] < 500, cls


def test_only_safe_evidence_is_exposed() -> None:
    error = errors.ValidationError("bad name", path="$.data.name", value="s3cret", sql="SELECT")
    _, _, body = problem(error, "rid")
    assert body["path"] == "$.data.name"
    assert "value" not in body
    assert "sql" not in body


def test_version_conflict_carries_current_version(api: Api, fake_registry: FakeRegistry) -> None:
    data = {"name": "Python", "description": "d", "category": "technical"}
    created = api.create("Skill", data).get_json()
    url = f"/entities/{created['entity_id']}"
    change = {"expected_version": 1, "data": data}
    ok = api.call("supersede", "POST", url, json={**change, "reason": "a"})
    assert ok.status_code == 201
    stale = api.call("supersede", "POST", url, json={**change, "reason": "b"})
    body = assert_problem(stale, 409, "version-conflict")
    assert body["current_version"] == 2


def test_storage_failure_is_503_with_retry_after_and_no_detail(
    api: Api, fake_registry: FakeRegistry
) -> None:
    fake_registry.fail_with = errors.StorageError(
        "connection to 10.0.0.5 failed: password authentication for registry_app"
    )
    response = api.create("Skill", {"name": "Python", "description": "d", "category": "technical"})
    body = assert_problem(response, 503, "storage-unavailable")
    assert response.headers["Retry-After"].isdigit()
    assert "10.0.0.5" not in response.get_data(as_text=True)
    assert "password" not in body["detail"]


def test_unexpected_exception_is_an_opaque_500(api: Api, fake_registry: FakeRegistry) -> None:
    fake_registry.fail_with = KeyError("customer-secret-value")
    response = api.create("Skill", {"name": "Python", "description": "d", "category": "technical"})
    body = assert_problem(response, 500, "internal-error")
    assert "customer-secret-value" not in response.get_data(as_text=True)
    assert "KeyError" not in response.get_data(as_text=True)
    assert body["detail"] == "an unexpected error occurred"


def test_problem_bodies_are_json_objects_with_rfc9457_members(
    api: Api, fake_registry: FakeRegistry
) -> None:
    response = api.call("query", "GET", "/entities/nope")
    body = json.loads(response.get_data())
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["title"] == "Not Found"
