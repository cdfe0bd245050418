"""Cloud SQL invariants: private IP only, TLS, IAM auth, backups, deletion protection."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.infra_hcl import ENVS, is_expression, registry_call, resources, setting, variables

ALLOWED_SSL_MODES = {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}


@pytest.fixture(scope="module")
def instance() -> dict[str, Any]:
    instances = resources("google_sql_database_instance")
    assert list(instances) == ["database/this"], "expected exactly one Cloud SQL instance"
    return instances["database/this"]


@pytest.fixture(scope="module")
def settings(instance: dict[str, Any]) -> dict[str, Any]:
    assert len(instance["settings"]) == 1
    settings: dict[str, Any] = instance["settings"][0]
    return settings


def flags(settings: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for flag in settings.get("database_flags", []):
        assert flag["name"] not in found, f"database flag {flag['name']} set twice"
        found[flag["name"]] = flag["value"]
    return found


def test_no_public_ip(settings: dict[str, Any]) -> None:
    (ip,) = settings["ip_configuration"]
    assert ip["ipv4_enabled"] is False
    assert is_expression(ip["private_network"]), "private_network must be set"
    assert "authorized_networks" not in ip


def test_ssl_is_enforced(settings: dict[str, Any]) -> None:
    (ip,) = settings["ip_configuration"]
    assert ip["ssl_mode"] == "${var.ssl_mode}"
    ssl_mode = variables("database")["ssl_mode"]
    assert ssl_mode["default"] in ALLOWED_SSL_MODES
    assert "validation" in ssl_mode, "ssl_mode must be validated"
    assert variables("registry")["database_ssl_mode"]["default"] in ALLOWED_SSL_MODES
    for env in ("dev", "prod"):
        assert setting(env, "database_ssl_mode") in ALLOWED_SSL_MODES


def test_deletion_protection_terraform_and_api(
    instance: dict[str, Any], settings: dict[str, Any]
) -> None:
    assert instance["deletion_protection"] is True
    assert settings["deletion_protection_enabled"] is True


def test_backups_and_point_in_time_recovery(settings: dict[str, Any]) -> None:
    (backup,) = settings["backup_configuration"]
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert backup["backup_retention_settings"][0]["retained_backups"] == "${var.retained_backups}"
    for env in ("dev", "prod"):
        assert setting(env, "retained_backups") >= 7


def test_iam_authentication_and_logging_flags(settings: dict[str, Any]) -> None:
    values = flags(settings)
    assert values["cloudsql.iam_authentication"] == "on"
    for name in ("log_connections", "log_disconnections", "log_checkpoints", "log_lock_waits"):
        assert values[name] == "on", name
    assert values["cloudsql.enable_pgaudit"] == "on"


def test_maintenance_window_and_query_insights(settings: dict[str, Any]) -> None:
    assert settings["maintenance_window"], "a maintenance window must be set"
    assert settings["insights_config"][0]["query_insights_enabled"] is True


def test_max_connections_flag_comes_from_the_budgeted_variable(
    instance: dict[str, Any], settings: dict[str, Any]
) -> None:
    assert flags(settings)["max_connections"] == "${tostring(var.max_connections)}"
    preconditions = instance["lifecycle"][0]["precondition"]
    assert any(
        "var.connection_budget <= var.max_connections" in p["condition"] for p in preconditions
    ), "the instance must refuse a connection budget above max_connections"


def test_database_version_is_the_confirmed_safe_major(instance: dict[str, Any]) -> None:
    """POSTGRES_16: generally available on both editions and the first major with the role
    rules ADR 0007 relies on; 18 is not confirmed on every edition (infra/README.md)."""
    assert instance["database_version"] == "${var.database_version}"
    version = variables("database")["database_version"]
    assert version["default"] == "POSTGRES_16"
    assert variables("registry")["database_version"]["default"] == "POSTGRES_16"
    condition = version["validation"][0]["condition"]
    assert "POSTGRES_15" not in condition, "before 16, any CREATEROLE holder can grant owner"
    for env in ("dev", "prod"):
        assert setting(env, "database_version") == "POSTGRES_16"
        assert setting(env, "database_edition") == "ENTERPRISE"


def test_pgaudit_flags_are_on(settings: dict[str, Any]) -> None:
    # The migration job runs CREATE EXTENSION pgaudit where the library is loaded
    # (shared/migration.py); these flags load it and choose what it logs.
    values = flags(settings)
    assert values["cloudsql.enable_pgaudit"] == "on"
    assert "role" in values["pgaudit.log"].split(",")


def test_iam_users_are_service_accounts_named_as_cloud_sql_requires() -> None:
    users = resources("google_sql_user")
    assert set(users) == {"database/runtime", "database/migrator"}
    for user in users.values():
        assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
        assert "password" not in user
    main = (ENVS.parent / "modules" / "database" / "main.tf").read_text(encoding="utf-8")
    assert 'trimsuffix(email, ".gserviceaccount.com")' in main
    assert 'trimsuffix(var.migrator_service_account_email, ".gserviceaccount.com")' in main


def test_database_roles_are_pinned_on_every_user() -> None:
    """Never left to the Admin API's default: the migrator gets cloudsqlsuperuser (it
    creates the registry roles through it), the runtime logins get nothing at all."""
    users = resources("google_sql_user")
    for name, user in users.items():
        assert "database_roles" in user, f"{name}: database_roles must be explicit"
    assert users["database/migrator"]["database_roles"] == ["cloudsqlsuperuser"]
    assert users["database/runtime"]["database_roles"] == []


def test_sql_users_and_the_peering_are_abandoned_not_deleted() -> None:
    for name, user in resources("google_sql_user").items():
        assert user.get("deletion_policy") == "ABANDON", name
    (peering,) = resources("google_service_networking_connection").values()
    assert peering.get("deletion_policy") == "ABANDON"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_environments_use_the_registry_module(env: str) -> None:
    assert registry_call(env)["source"] == "../../modules/registry"
