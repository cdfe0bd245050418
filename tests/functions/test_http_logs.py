"""Request logs: one Cloud Logging JSON line per request, with no secrets or record data."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from functions import runtime
from functions.logs import trace_fields
from tests.functions.http_support import Api
from tests.functions.registry_fake import FakeRegistry

TRACE = "105445aa7843bc8bf206b12000100000"


@pytest.fixture
def project_runtime(fake_registry: FakeRegistry) -> None:
    current = runtime.current()
    settings = dataclasses.replace(current.settings, google_cloud_project="my-project")
    runtime.install(dataclasses.replace(current, settings=settings))


def _lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_one_structured_line_per_request(
    api: Api, project_runtime: None, capsys: pytest.CaptureFixture[str]
) -> None:
    token = api.token()
    secret_name = "Top-Secret-Skill-Name"
    response = api.call(
        "create",
        "POST",
        "/",
        json={
            "entity_type": "Skill",
            "data": {"name": secret_name, "description": "d", "category": "technical"},
        },
        token=token,
        headers={"X-Cloud-Trace-Context": f"{TRACE}/123;o=1"},
    )
    assert response.status_code == 201
    out = capsys.readouterr().out
    entries = [e for e in _lines(out) if e.get("op") == "create.entity"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["severity"] == "INFO"
    assert entry["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    assert entry["logging.googleapis.com/spanId"] == "123"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert entry["tenant"] == api.tenant
    assert entry["status"] == 201
    assert entry["latency_ms"] >= 0
    assert entry["httpRequest"]["requestMethod"] == "POST"
    # Never the token, never record data.
    assert token not in out
    assert token.split(".")[1] not in out
    assert secret_name not in out


def test_failures_log_as_warning_or_error_without_the_message(
    api: Api, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    api.call("query", "GET", "/entities/missing")
    fake_registry.fail_with = RuntimeError("row data: alice@example.com")
    api.create("Skill", {"name": "x", "description": "d", "category": "technical"})
    entries = _lines(capsys.readouterr().out)
    assert entries[0]["severity"] == "WARNING"
    assert entries[0]["error"] == "not-found"
    assert entries[1]["severity"] == "ERROR"
    assert entries[1]["error_type"] == "RuntimeError"
    assert "alice@example.com" not in json.dumps(entries)
    # The frames are there for the operator; the exception's message is not.
    assert "registry_fake.py" in entries[1]["stack"]


def test_query_strings_and_authorization_are_not_logged(
    api: Api, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    api.call("query", "GET", "/entities?cursor=opaque-cursor-value")
    out = capsys.readouterr().out
    assert "opaque-cursor-value" not in out
    assert "Bearer" not in out


@pytest.mark.parametrize(
    ("cloud", "traceparent", "project", "expected"),
    [
        (f"{TRACE}/1;o=0", None, None, TRACE),
        (f"{TRACE}", None, "p", f"projects/p/traces/{TRACE}"),
        (None, f"00-{TRACE}-00f067aa0ba902b7-01", "p", f"projects/p/traces/{TRACE}"),
        ("garbage", None, "p", None),
        (None, None, "p", None),
    ],
)
def test_trace_header_parsing(
    cloud: str | None, traceparent: str | None, project: str | None, expected: str | None
) -> None:
    fields = trace_fields(cloud, traceparent, project)
    assert fields.get("logging.googleapis.com/trace") == expected


def test_a_log_from_inside_the_service_carries_the_request_fields(
    api: Api, project_runtime: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain ``logging`` deep in the call goes through the same formatter and context."""
    fake = runtime.current().registry
    assert isinstance(fake, FakeRegistry)
    fake.log_on_write = "checkpoint after a write failed"
    response = api.create(
        "Skill",
        {"name": "x", "description": "d", "category": "technical"},
        headers={"X-Cloud-Trace-Context": f"{TRACE}/7;o=1"},
    )
    assert response.status_code == 201
    entries = _lines(capsys.readouterr().out)
    deep = [e for e in entries if e["message"] == "checkpoint after a write failed"]
    assert len(deep) == 1
    assert deep[0]["severity"] == "WARNING"
    assert deep[0]["logger"] == "shared.service"
    assert deep[0]["request_id"] == response.headers["X-Request-Id"]
    assert deep[0]["tenant"] == api.tenant
    assert deep[0]["op"] == "create.entity"
    assert deep[0]["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    # Outside a request the same logger still writes a JSON line, without request fields.
    logging.getLogger("shared.service").warning("between requests")
    (outside,) = _lines(capsys.readouterr().out)
    assert outside["message"] == "between requests"
    assert "request_id" not in outside
