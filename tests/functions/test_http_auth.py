"""Authentication and authorisation over HTTP: 401 with a challenge, 403 per scope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE
from tests.functions.http_support import ALL_SCOPES, AUDIENCE, ISSUER, Api, assert_problem, mint
from tests.functions.registry_fake import FakeRegistry

CREATE = {
    "entity_type": "Skill",
    "data": {"name": "Python", "description": "d", "category": "technical"},
}
# One request per authenticated endpoint: (target, method, path, json body).
ENDPOINTS: list[tuple[str, str, str, Any]] = [
    ("create", "POST", "/", CREATE),
    ("create", "POST", "/batch", {"entities": [CREATE]}),
    ("query", "GET", "/entities", None),
    ("query", "GET", "/entities/e1", None),
    ("query", "GET", "/entities/e1/history", None),
    ("query", "GET", "/log", None),
    ("supersede", "POST", "/entities/e1", {"expected_version": 1, "reason": "r"}),
    ("verify", "GET", "/entities/e1", None),
    ("verify", "GET", "/checkpoint", None),
    ("verify", "GET", "/consistency?first=1&second=1", None),
    ("verify", "POST", "/audit", None),
]
NEEDS = {
    "create": SCOPE_WRITE,
    "supersede": SCOPE_WRITE,
    "query": SCOPE_READ,
    "verify": SCOPE_READ,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(tenant: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "tenant_id": tenant,
        "scope": ALL_SCOPES,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


def _attacks(api: Api) -> dict[str, str]:
    """Tokens an attacker could present, each of which must be refused."""
    claims = _claims(api.tenant)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    mac = hmac.new(api.keys.public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
    good = mint(api.keys, tenant=api.tenant)
    g_header, _, g_sig = good.split(".")
    forged_payload = _b64(json.dumps(_claims("victim-tenant")).encode())
    attacks = {
        "alg-none": f"{_b64(json.dumps({'alg': 'none'}).encode())}.{payload}.",
        "hs256-with-public-key": f"{header}.{payload}.{_b64(mac.digest())}",
        "wrong-key": jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA"),
        "expired-beyond-leeway": mint(
            api.keys, tenant=api.tenant, iat=int(time.time()) - 900, exp=int(time.time()) - 60
        ),
        "wrong-audience": mint(api.keys, tenant=api.tenant, aud="another-service"),
        "wrong-issuer": mint(api.keys, tenant=api.tenant, iss="https://evil.test"),
        "tampered-payload": f"{g_header}.{forged_payload}.{g_sig}",
        "malformed": "not.a.jwt",
        "garbage": "x",
    }
    for claim in ("sub", "tenant_id", "scope", "iss", "aud", "exp", "iat"):
        trimmed = dict(claims)
        del trimmed[claim]
        attacks[f"missing-{claim}"] = jwt.encode(trimmed, api.keys.private, algorithm="EdDSA")
    return attacks


@pytest.mark.parametrize(("target", "method", "path", "body"), ENDPOINTS)
def test_every_attack_is_401_on_every_endpoint(
    api: Api, fake_registry: FakeRegistry, target: str, method: str, path: str, body: Any
) -> None:
    for name, token in _attacks(api).items():
        response = api.call(target, method, path, json=body, token=token)
        problem = assert_problem(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="plant-registry", error="invalid_token"'
        ), name
        assert token not in response.get_data(as_text=True)
        assert problem["detail"]
    assert fake_registry.calls == []


@pytest.mark.parametrize(("target", "method", "path", "body"), ENDPOINTS)
def test_missing_credentials_are_401_without_error_code(
    api: Api, fake_registry: FakeRegistry, target: str, method: str, path: str, body: Any
) -> None:
    response = api.call(target, method, path, json=body, auth=False)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="plant-registry"'


@pytest.mark.parametrize("scheme", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Digest x"])
def test_non_bearer_schemes_are_401(api: Api, fake_registry: FakeRegistry, scheme: str) -> None:
    response = api.call("query", "GET", "/entities", auth=False, headers={"Authorization": scheme})
    assert_problem(response, 401, "unauthenticated")
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_auth_is_checked_before_the_body_is_read(api: Api, fake_registry: FakeRegistry) -> None:
    # An anonymous caller learns nothing about body validation.
    response = api.call(
        "create", "POST", "/", data=b"not json", content_type="text/plain", auth=False
    )
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(("target", "method", "path", "body"), ENDPOINTS)
def test_each_endpoint_is_403_without_its_scope(
    api: Api, fake_registry: FakeRegistry, target: str, method: str, path: str, body: Any
) -> None:
    needed = SCOPE_ADMIN if path == "/audit" else NEEDS[target]
    others = " ".join(s for s in (SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN) if s != needed)
    response = api.call(target, method, path, json=body, scopes=others)
    problem = assert_problem(response, 403, "forbidden")
    assert problem["required_scope"] == needed
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="plant-registry", error="insufficient_scope", scope="{needed}"'
    )
    assert fake_registry.calls == []


def test_token_with_no_scopes_is_403(api: Api, fake_registry: FakeRegistry) -> None:
    assert_problem(api.call("query", "GET", "/entities", scopes=""), 403, "forbidden")


def test_keys_need_no_token(api: Api, fake_registry: FakeRegistry) -> None:
    response = api.call("verify", "GET", "/keys", auth=False)
    assert response.status_code == 200
    assert response.get_json()["keys"][0]["key_id"] == "fake"


def test_write_scope_alone_cannot_certify(api: Api, fake_registry: FakeRegistry) -> None:
    created = api.call("create", "POST", "/", json=CREATE, scopes=SCOPE_WRITE).get_json()
    response = api.call(
        "supersede",
        "POST",
        f"/entities/{created['entity_id']}",
        json={"expected_version": 1, "reason": "ok", "status": "certified"},
        scopes=f"{SCOPE_READ} {SCOPE_WRITE}",
    )
    assert_problem(response, 403, "forbidden")


def test_tenant_comes_only_from_the_token(api: Api, fake_registry: FakeRegistry) -> None:
    created = api.call("create", "POST", "/", json=CREATE).get_json()
    assert created["tenant_id"] == api.tenant
    other = api.call(
        "query", "GET", f"/entities/{created['entity_id']}", token=api.token(tenant="someone-else")
    )
    assert_problem(other, 404, "not-found")
