"""Helpers for the HTTP tests: tokens, a small API client and problem assertions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "main.py")
ISSUER = "https://issuer.test"
AUDIENCE = "plant-registry-test"
ALL_SCOPES = f"{SCOPE_READ} {SCOPE_WRITE} {SCOPE_ADMIN}"
TARGETS = ("create", "query", "supersede", "verify")
# Small limits keep 413 tests cheap; both are within what Settings.from_env accepts.
MAX_BODY = 4096
MAX_BATCH_BODY = 64 * 1024


@dataclass(frozen=True)
class JwtKeys:
    private: ed25519.Ed25519PrivateKey
    public_pem: bytes
    public_file: Path


def mint(
    keys: JwtKeys,
    *,
    tenant: str,
    scopes: str = ALL_SCOPES,
    subject: str = "alice",
    ttl: int = 300,
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "tenant_id": tenant,
        "scope": scopes,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
    }
    claims.update(overrides)
    return jwt.encode(claims, keys.private, algorithm="EdDSA")


class Api:
    """Test client calls with a bearer token for one tenant."""

    def __init__(self, apps: dict[str, Any], keys: JwtKeys, tenant: str) -> None:
        self._apps = apps
        self.keys = keys
        self.tenant = tenant

    def client(self, target: str) -> FlaskClient:
        client: FlaskClient = self._apps[target].test_client()
        return client

    def token(self, scopes: str = ALL_SCOPES, **kw: Any) -> str:
        kw.setdefault("tenant", self.tenant)
        return mint(self.keys, scopes=scopes, **kw)

    def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        scopes: str = ALL_SCOPES,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        auth: bool = True,
        **kw: Any,
    ) -> TestResponse:
        sent: dict[str, str] = {}
        if auth:
            sent["Authorization"] = f"Bearer {token or self.token(scopes)}"
        sent.update(headers or {})
        if json is not None and content_type is None:
            content_type = "application/json"
        response: TestResponse = self.client(target).open(
            path,
            method=method,
            json=json,
            data=data,
            headers=sent,
            content_type=content_type,
            **kw,
        )
        return response

    def create(self, entity_type: str, data: dict[str, Any], **kw: Any) -> TestResponse:
        return self.call(
            "create", "POST", "/", json={"entity_type": entity_type, "data": data}, **kw
        )


def assert_problem(response: TestResponse, status: int, kind: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of ``kind`` with no trace of a stack."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["type"] == f"https://plant-registry.dev/problems/{kind}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert body["instance"] == f"urn:uuid:{body['request_id']}"
    assert_no_stack_trace(response)
    return body


def assert_no_stack_trace(response: TestResponse) -> None:
    text = response.get_data(as_text=True)
    for marker in ("Traceback", 'File "/', "<!doctype", "<html", "site-packages"):
        assert marker not in text, text
