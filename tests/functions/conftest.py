"""Fixtures for the HTTP tests: real functions-framework apps, tokens, and a registry.

Every test drives the real app built by ``functions_framework.create_app(target,
source="main.py")``. The registry behind it is either ``fake_registry`` (in memory, for
routing, auth and input handling) or ``real_registry`` (the lead's service over the test
database, for behaviour that needs the real ledger).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.serving import make_server

from functions import runtime
from shared.auth import TokenVerifier
from shared.service import Registry
from shared.settings import Settings
from tests.functions.http_support import (
    AUDIENCE,
    ISSUER,
    MAIN,
    MAX_BATCH_BODY,
    MAX_BODY,
    TARGETS,
    Api,
    JwtKeys,
)
from tests.functions.registry_fake import FakeRegistry


@pytest.fixture(scope="session")
def jwt_keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    private = ed25519.Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path_factory.mktemp("jwt") / "jwt-public.pem"
    path.write_bytes(public_pem)
    return JwtKeys(private, public_pem, path)


@pytest.fixture(scope="session")
def base_settings(jwt_keys: JwtKeys) -> Settings:
    return Settings(
        jwt_public_key_file=jwt_keys.public_file,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        max_body_bytes=MAX_BODY,
        max_batch_body_bytes=MAX_BATCH_BODY,
    )


@pytest.fixture(scope="session")
def apps() -> dict[str, Any]:
    return {target: functions_framework.create_app(target, source=MAIN) for target in TARGETS}


@pytest.fixture
def fake_registry(base_settings: Settings) -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    runtime.install(
        runtime.Runtime(
            settings=base_settings,
            registry=fake,
            tokens=TokenVerifier.from_settings(base_settings),
        )
    )
    yield fake
    runtime.install(None)


@pytest.fixture(scope="session")
def real_runtime(registry: Registry, base_settings: Settings) -> runtime.Runtime:
    """The lead's Registry over the session's test database (root conftest)."""
    return runtime.Runtime(
        settings=base_settings,
        registry=registry,
        tokens=TokenVerifier.from_settings(base_settings),
    )


@pytest.fixture
def real_registry(real_runtime: runtime.Runtime) -> Iterator[runtime.Runtime]:
    runtime.install(real_runtime)
    yield real_runtime
    runtime.install(None)


@pytest.fixture
def api(apps: dict[str, Any], jwt_keys: JwtKeys, tenant: str) -> Api:
    return Api(apps, jwt_keys, tenant)


@pytest.fixture
def other_api(apps: dict[str, Any], jwt_keys: JwtKeys) -> Api:
    return Api(apps, jwt_keys, f"other-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def verify_url(apps: dict[str, object]) -> Iterator[str]:
    """The verify function served over real HTTP on a loopback port."""
    server = make_server("127.0.0.1", 0, apps["verify"], threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
