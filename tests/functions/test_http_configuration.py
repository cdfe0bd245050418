"""Configuration fails fast: every problem at once, and /healthz names the variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions import runtime
from shared.core.errors import ConfigurationError
from shared.settings import DEV_LOG_ORIGIN, ENVIRONMENT_VARIABLES, Settings

KMS_KEY = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
SERVICE_VARIABLES = [
    "CHECKPOINT_KEY_FILE",
    "CHECKPOINT_KMS_KEY_VERSION",
    "DATABASE_URL",
    "INSTANCE_CONNECTION_NAME",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "JWT_JWKS_URL",
    "JWT_PUBLIC_KEY_FILE",
    "KMS_KEY_VERSION",
    "LOG_ORIGIN",
    "SIGNING_KEY_FILE",
]


def test_every_bad_variable_is_reported_at_once() -> None:
    env = {
        "DB_POOL_SIZE": "lots",
        "DB_IAM_AUTH": "perhaps",
        "PORT": "0",
        "SIGNING_KEY_FILE": "/k.pem",
        "KMS_KEY_VERSION": KMS_KEY,
        "LOG_LEVEL": "LOUD",
    }
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert caught.value.evidence["variables"] == sorted(
        ["DB_POOL_SIZE", "DB_IAM_AUTH", "PORT", "SIGNING_KEY_FILE", "KMS_KEY_VERSION", "LOG_LEVEL"]
    )
    assert len(caught.value.evidence["problems"]) == 5


def test_a_deployment_lacking_everything_names_everything() -> None:
    problems = Settings().service_problems()
    assert len(problems) == 7
    with pytest.raises(ConfigurationError) as caught:
        Settings().require_service()
    assert caught.value.evidence["variables"] == SERVICE_VARIABLES


def test_a_key_file_that_is_not_there_is_a_configuration_problem(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+pg8000://u@127.0.0.1/db",
        jwt_public_key_file=tmp_path / "jwt.pem",
        jwt_issuer="i",
        jwt_audience="a",
        signing_key_file=tmp_path / "absent.pem",
        checkpoint_key_file=tmp_path / "jwt.pem",
        log_origin="registry.example.com/plant",
    )
    (tmp_path / "jwt.pem").write_text("not checked here")
    assert settings.service_problems() == [
        f"SIGNING_KEY_FILE {tmp_path}/absent.pem is not a readable file"
    ]


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No runtime installed and no configuration in the environment."""
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    runtime.install(None)
    yield
    runtime.install(None)


@pytest.mark.parametrize("target", ["create", "query", "supersede", "verify"])
def test_healthz_of_an_unconfigured_function_names_every_missing_variable(
    apps: dict[str, Any], unconfigured: None, target: str
) -> None:
    answer = apps[target].test_client().get("/healthz")
    assert answer.status_code == 500
    assert answer.content_type == "application/problem+json"
    body = answer.get_json()
    assert body["type"].endswith("/configuration-error")
    assert body["variables"] == SERVICE_VARIABLES
    assert "Retry-After" not in answer.headers


def test_a_missing_signing_key_is_a_configuration_error_not_a_503(
    apps: dict[str, Any], unconfigured: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jwt = tmp_path / "jwt.pem"
    jwt.write_text("unused: the configuration is refused before any key is read")
    for name, value in {
        "DATABASE_URL": "postgresql+pg8000://u@127.0.0.1:1/db",
        "JWT_PUBLIC_KEY_FILE": str(jwt),
        "JWT_ISSUER": "i",
        "JWT_AUDIENCE": "a",
    }.items():
        monkeypatch.setenv(name, value)
    answer = (
        apps["create"]
        .test_client()
        .post("/", json={"entity_type": "Skill", "data": {}}, headers={"Authorization": "Bearer x"})
    )
    assert answer.status_code == 500
    body = answer.get_json()
    assert body["type"].endswith("/configuration-error")
    assert body["variables"] == [
        "CHECKPOINT_KEY_FILE",
        "CHECKPOINT_KMS_KEY_VERSION",
        "KMS_KEY_VERSION",
        "LOG_ORIGIN",
        "SIGNING_KEY_FILE",
    ]


def test_the_answer_names_variables_but_never_their_values(
    apps: dict[str, Any], unconfigured: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIGNING_KEY_FILE", str(tmp_path / "secret-place" / "key.pem"))
    answer = apps["query"].test_client().get("/healthz")
    assert answer.get_json()["variables"] == [
        v for v in SERVICE_VARIABLES if v != "KMS_KEY_VERSION"
    ]
    assert "secret-place" not in answer.get_data(as_text=True)


def test_cold_start_logs_every_problem_once(
    unconfigured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    failure = runtime.preflight({"JWT_ISSUER": "i"})
    assert failure is not None
    assert failure.evidence["variables"] == [v for v in SERVICE_VARIABLES if v != "JWT_ISSUER"]
    assert (
        runtime.preflight(
            {
                "DATABASE_URL": "postgresql+pg8000://u@127.0.0.1/db",
                "JWT_JWKS_URL": "https://issuer.example/jwks",
                "JWT_ISSUER": "i",
                "JWT_AUDIENCE": "a",
                "KMS_KEY_VERSION": KMS_KEY,
                "CHECKPOINT_KMS_KEY_VERSION": KMS_KEY,
                "LOG_ORIGIN": "registry.example.com/plant",
            }
        )
        is None
    )


@pytest.mark.parametrize(
    "origin", ["https://registry.example.com/plant", "registry.example.com/plant/", "a b", "a+b"]
)
def test_log_origin_is_a_schema_less_url_prefix(origin: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"LOG_ORIGIN": origin})
    assert caught.value.evidence["variables"] == ["LOG_ORIGIN"]


def test_log_origin_defaults_to_the_documented_dev_prefix() -> None:
    assert Settings.from_env({}).effective_log_origin == DEV_LOG_ORIGIN == "plant-registry.dev/log"
    named = Settings.from_env({"LOG_ORIGIN": "registry.example.com/plant"})
    assert named.effective_log_origin == "registry.example.com/plant"


def test_one_checkpoint_key_source() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"CHECKPOINT_KEY_FILE": "/k.pem", "CHECKPOINT_KMS_KEY_VERSION": "x"})
    assert caught.value.evidence["variables"] == [
        "CHECKPOINT_KEY_FILE",
        "CHECKPOINT_KMS_KEY_VERSION",
    ]
