"""Cloud Scheduler's Google ID token runs the checkpoint sweep, and nothing else.

Google's key set is played by a JWKS served from a loopback HTTP server
(``GOOGLE_OIDC_JWKS_URL``); the tokens are RS256 ID tokens shaped like the ones Google
signs for a service account (iss, aud, email, email_verified, exp, iat). The positive
case signs a due checkpoint in the real test database.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Engine

from functions import runtime
from shared.auth import TokenVerifier
from shared.core.errors import AuthenticationError, ConfigurationError
from shared.core.principal import SCOPE_READ, SCOPE_WRITE
from shared.core.signing import LocalSigner
from shared.scheduler_auth import DeadlineJWKClient, SchedulerTokenVerifier
from shared.service import Registry
from shared.settings import Settings
from tests.functions.http_support import Api, assert_problem

pytestmark = pytest.mark.integration

ACCOUNT = "plant-scheduler@project.iam.gserviceaccount.com"
AUDIENCE = "https://europe-west1-project.cloudfunctions.net/plant-verify"
KID = "google-test-key-1"
SWEEP = "/maintenance/checkpoint-sweep"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


GOOGLE_KEY = _rsa()
ROGUE_KEY = _rsa()


class _KeySetServer:
    """Google's certs endpoint, on loopback; ``delay`` stalls every answer."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.delay = 0.0
        self.fetches = 0
        body = json.dumps(document).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                time.sleep(server.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth2/v3/certs"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def google_keys() -> Iterator[_KeySetServer]:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(GOOGLE_KEY.public_key(), as_dict=True)
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    server = _KeySetServer({"keys": [jwk]})
    yield server
    server.close()


def id_token(
    key: Any = GOOGLE_KEY, *, algorithm: str = "RS256", kid: str = KID, **overrides: Any
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "azp": "1234567890",
        "sub": "1234567890",
        "email": ACCOUNT,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    for name in [name for name, value in claims.items() if value is None]:
        del claims[name]
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


class Clock:
    """A settable clock an hour in the past, so no other test's tenant looks due."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _runtime(
    base: Settings, registry: Registry, jwks_url: str, *, scheduler: bool = True
) -> runtime.Runtime:
    settings = dataclasses.replace(
        base,
        scheduler_service_account=ACCOUNT if scheduler else None,
        scheduler_audience=AUDIENCE if scheduler else None,
        google_oidc_jwks_url=jwks_url,
    )
    return runtime.Runtime(
        settings=settings,
        registry=registry,
        tokens=TokenVerifier.from_settings(base),
        scheduler=SchedulerTokenVerifier.from_settings(settings),
    )


@pytest.fixture
def clocked_registry(runtime_engine: Engine, signer: LocalSigner, clock: Clock) -> Registry:
    return Registry(
        runtime_engine,
        signer,
        {signer.key_id: signer.public_key},
        checkpoint_every=0,  # only age makes a tenant due here
        checkpoint_max_age=60,
        clock=clock,
    )


@pytest.fixture
def scheduled(
    base_settings: Settings, clocked_registry: Registry, google_keys: _KeySetServer
) -> Iterator[runtime.Runtime]:
    rt = _runtime(base_settings, clocked_registry, google_keys.url)
    runtime.install(rt)
    yield rt
    runtime.install(None)


def _checkpoint_sizes(engine: Engine, tenant: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT tree_size FROM registry.checkpoints WHERE tenant_id = :t ORDER BY 1"),
            {"t": tenant},
        )
        return [row[0] for row in rows]


def _grow(api: Api, n: int) -> None:
    for _ in range(n):
        data = {
            "name": f"Skill {uuid.uuid4().hex[:8]}",
            "description": "Writes and reviews Python services",
            "category": "technical",
        }
        response = api.create("Skill", data)
        assert response.status_code == 201, response.get_json()


def _sweep(api: Api, token: str) -> Any:
    return api.call("verify", "POST", SWEEP, token=token, json={})


def test_the_schedulers_token_runs_the_sweep_and_signs_a_due_checkpoint(
    api: Api, scheduled: runtime.Runtime, clock: Clock, admin_engine: Engine
) -> None:
    _grow(api, 3)
    young = _sweep(api, id_token())
    assert young.status_code == 200, young.get_json()
    assert _checkpoint_sizes(admin_engine, api.tenant) == []  # not due yet: 0 s old
    clock.now += timedelta(seconds=61)
    response = _sweep(api, id_token(iss="accounts.google.com"))
    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()) == {"signed", "published", "failed"}
    assert response.get_json()["signed"] >= 1
    assert _checkpoint_sizes(admin_engine, api.tenant) == [3]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: id_token(aud="https://other.example/verify"), "audience"),
        (lambda: id_token(email="someone@project.iam.gserviceaccount.com"), "service account"),
        (lambda: id_token(email_verified=False), "not verified"),
        (lambda: id_token(email_verified="true"), "not verified"),
        (lambda: id_token(email=None), "email"),
        (lambda: id_token(iat=None), "iat"),
        (lambda: id_token(exp=int(time.time()) - 120, iat=int(time.time()) - 3720), "expired"),
        (lambda: id_token(iss="https://accounts.google.com.evil.example"), ""),
        (
            lambda: id_token("an-hmac-secret-that-is-long-enough-for-sha256", algorithm="HS256"),
            "RS256",
        ),
        (lambda: id_token(None, algorithm="none"), "RS256"),
        (lambda: id_token(ROGUE_KEY, kid="rogue-key"), "unknown key"),
        (lambda: id_token(ROGUE_KEY), ""),  # Google's kid, another key: bad signature
    ],
    ids=[
        "wrong-aud",
        "wrong-email",
        "unverified-email",
        "email-verified-string",
        "no-email",
        "no-iat",
        "expired",
        "wrong-issuer",
        "hs256",
        "alg-none",
        "key-not-in-jwks",
        "forged-with-googles-kid",
    ],
)
def test_the_sweep_refuses_what_is_not_the_schedulers_token(
    api: Api, scheduled: runtime.Runtime, admin_engine: Engine, token: Any, reason: str
) -> None:
    _grow(api, 1)
    problem = assert_problem(_sweep(api, token()), 401, "unauthenticated")
    assert reason in problem["detail"]
    assert _checkpoint_sizes(admin_engine, api.tenant) == []


@pytest.mark.parametrize(
    ("target", "method", "path"),
    [
        ("verify", "POST", "/checkpoint"),
        ("verify", "GET", "/checkpoint"),
        ("verify", "POST", "/audit"),
        ("verify", "GET", "/consistency?first=1&second=1"),
        ("query", "GET", "/entities"),
        ("query", "GET", "/log"),
        ("create", "POST", "/"),
    ],
)
def test_the_schedulers_token_is_forbidden_everywhere_else(
    api: Api, scheduled: runtime.Runtime, target: str, method: str, path: str
) -> None:
    body = {"entity_type": "Skill", "data": {}} if target == "create" else None
    response = api.call(target, method, path, token=id_token(), json=body)
    problem = assert_problem(response, 403, "forbidden")
    assert "scheduled maintenance jobs" in problem["detail"]


def test_a_registry_admin_may_still_run_the_sweep_and_a_writer_may_not(
    api: Api, scheduled: runtime.Runtime
) -> None:
    assert api.call("verify", "POST", SWEEP).status_code == 200
    writer = f"{SCOPE_READ} {SCOPE_WRITE}"
    assert_problem(api.call("verify", "POST", SWEEP, scopes=writer), 403, "forbidden")
    assert_problem(api.call("verify", "POST", SWEEP, json={"x": 1}), 400, "invalid-input")


def test_without_the_scheduler_settings_the_google_token_is_refused(
    api: Api, base_settings: Settings, clocked_registry: Registry, google_keys: _KeySetServer
) -> None:
    rt = _runtime(base_settings, clocked_registry, google_keys.url, scheduler=False)
    assert rt.scheduler is None
    runtime.install(rt)
    try:
        assert_problem(_sweep(api, id_token()), 401, "unauthenticated")
        assert api.call("verify", "POST", SWEEP).status_code == 200  # admin JWT
    finally:
        runtime.install(None)


def test_googles_keys_are_fetched_once_and_cached(google_keys: _KeySetServer) -> None:
    settings = Settings(
        scheduler_service_account=ACCOUNT,
        scheduler_audience=AUDIENCE,
        google_oidc_jwks_url=google_keys.url,
    )
    verifier = SchedulerTokenVerifier.from_settings(settings)
    assert verifier is not None
    before = google_keys.fetches
    for _ in range(3):
        assert verifier.verify(id_token()).email == ACCOUNT
    assert google_keys.fetches == before + 1


def test_a_stalled_key_set_fetch_fails_at_its_total_deadline() -> None:
    """A 401 within the deadline, whichever fires first: the total deadline or the socket's."""
    server = _KeySetServer({"keys": []})
    server.delay = 3.0
    try:
        verifier = SchedulerTokenVerifier(
            DeadlineJWKClient(server.url, deadline_s=1),
            audience=AUDIENCE,
            service_account=ACCOUNT,
            leeway=0,
        )
        started = time.monotonic()
        with pytest.raises(AuthenticationError, match=r"did not answer within 1 s|unavailable"):
            verifier.verify(id_token())
        assert time.monotonic() - started < 2.5
    finally:
        server.delay = 0.0
        server.close()


def test_scheduler_settings_come_in_pairs_and_keys_over_https() -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULER_SERVICE_ACCOUNT and SCHEDULER_AUD"):
        Settings.from_env({"SCHEDULER_SERVICE_ACCOUNT": ACCOUNT})
    with pytest.raises(ConfigurationError, match="GOOGLE_OIDC_JWKS_URL"):
        Settings.from_env({"GOOGLE_OIDC_JWKS_URL": "http://keys.example/certs"})
    settings = Settings.from_env(
        {"SCHEDULER_SERVICE_ACCOUNT": ACCOUNT, "SCHEDULER_AUDIENCE": AUDIENCE}
    )
    assert settings.accepts_scheduler
    assert settings.google_oidc_jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert not Settings.from_env({}).accepts_scheduler


def test_the_schedulers_token_runs_the_daily_idempotency_expiry(
    api: Api, scheduled: runtime.Runtime
) -> None:
    response = api.call("verify", "POST", "/maintenance/expire-idempotency", token=id_token())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.json or {}) == {"removed", "retention_hours"}
    writer = f"{SCOPE_READ} {SCOPE_WRITE}"
    forbidden = api.call("verify", "POST", "/maintenance/expire-idempotency", scopes=writer)
    assert_problem(forbidden, 403, "forbidden")
    refused = api.call(
        "verify", "POST", "/maintenance/expire-idempotency", token=id_token(aud="elsewhere")
    )
    assert_problem(refused, 401, "unauthenticated")
