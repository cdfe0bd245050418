"""Overload answers over HTTP: 429 and 503 with Retry-After, as problem+json."""

from __future__ import annotations

from shared.core import errors
from shared.limits import Limits
from tests.functions.http_support import Api, assert_problem
from tests.functions.registry_fake import FakeRegistry


def test_a_tenant_over_its_rate_gets_429_with_retry_after(
    api: Api, other_api: Api, fake_registry: FakeRegistry
) -> None:
    fake_registry.limits = Limits(rate_per_s=0.5, burst=2)
    assert (
        api.create("Skill", {"name": "A", "description": "d", "category": "technical"}).status_code
        == 201
    )
    assert (
        api.create("Skill", {"name": "B", "description": "d", "category": "technical"}).status_code
        == 201
    )
    response = api.create("Skill", {"name": "C", "description": "d", "category": "technical"})
    body = assert_problem(response, 429, "rate-limited")
    assert response.headers["Retry-After"] == "2"
    assert body["retry_after"] == 2
    # Another tenant has its own bucket.
    assert (
        other_api.create(
            "Skill", {"name": "A", "description": "d", "category": "technical"}
        ).status_code
        == 201
    )


def test_too_many_writers_is_429_with_the_error_retry_after(
    api: Api, fake_registry: FakeRegistry
) -> None:
    fake_registry.fail_with = errors.TooManyRequestsError("busy", retry_after=3)
    response = api.create("Skill", {"name": "Python", "description": "d", "category": "technical"})
    assert_problem(response, 429, "rate-limited")
    assert response.headers["Retry-After"] == "3"


def test_a_commit_with_unknown_outcome_is_503_and_says_to_retry_with_the_key(
    api: Api, fake_registry: FakeRegistry
) -> None:
    fake_registry.fail_with = errors.CommitOutcomeUnknownError("connection reset at COMMIT")
    response = api.create("Skill", {"name": "Python", "description": "d", "category": "technical"})
    body = assert_problem(response, 503, "commit-outcome-unknown")
    assert response.headers["Retry-After"].isdigit()
    assert "Idempotency-Key" in body["detail"]
    assert "reset" not in body["detail"]
