"""The four functions and the migration job: entry points that exist in main.py, and
environment variables that Settings reads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.infra_hcl import (
    FUNCTION_NAMES,
    MODULES,
    env_keys_in_expression,
    locals_of,
    main_py_names,
    resources,
    settings_environment_variables,
    variables,
)


@pytest.fixture(scope="module")
def function() -> dict[str, Any]:
    functions = resources("google_cloudfunctions2_function")
    assert list(functions) == ["functions/this"]
    return functions["functions/this"]


def registry_functions() -> dict[str, Any]:
    functions: dict[str, Any] = locals_of(MODULES / "registry" / "main.tf")["functions"]
    return functions


def test_the_four_functions_and_their_entry_points() -> None:
    functions = registry_functions()
    assert set(functions) == set(FUNCTION_NAMES)
    assert {name: f["entry_point"] for name, f in functions.items()} == {
        name: name for name in FUNCTION_NAMES
    }


def test_entry_points_exist_in_main_py() -> None:
    names = main_py_names()
    missing = sorted({f["entry_point"] for f in registry_functions().values()} - names)
    assert not missing, f"main.py defines no top-level {missing}"


def test_build_uses_python312_and_the_declared_entry_point(function: dict[str, Any]) -> None:
    (build,) = function["build_config"]
    assert build["runtime"] == "python312"
    assert build["entry_point"] == "${each.value.entry_point}"


def function_env_keys(function: dict[str, Any]) -> set[str]:
    module_locals = locals_of(MODULES / "functions" / "main.tf")
    expression = function["service_config"][0]["environment_variables"]
    referenced = set(re.findall(r"local\.(\w+)", expression))
    assert referenced <= {"base_env", "checkpoint_env", "scheduler_env", "trusted_keys_env"}, (
        referenced
    )
    keys = env_keys_in_expression(expression)
    for name in referenced:
        assert isinstance(module_locals[name], dict), f"local.{name} must be an object literal"
        keys |= set(module_locals[name])
    return keys


def job_env_keys() -> set[str]:
    (job,) = resources("google_cloud_run_v2_job").values()
    (container,) = job["template"][0]["template"][0]["containers"]
    keys = {env["name"] for env in container.get("env", [])}
    for dynamic in container.get("dynamic", []):
        (content,) = dynamic["env"]["content"]
        assert dynamic["env"]["for_each"] == "${local.job_env}"
        assert content["name"] == "${env.key}"
        keys |= set(locals_of(MODULES / "migration_job" / "main.tf")["job_env"])
    return keys


# Settings the infrastructure already sets for application work that other engineers are
# landing in parallel (issue 8: witnessed C2SP log). Each is
# documented in infra/README.md ("Settings the application reads"); once shared/settings.py
# lists a name, the general rule below covers it and it can leave this set.
PENDING_APP_SETTINGS = {
    "CHECKPOINT_RETENTION_DAYS",
    "CHECKPOINT_RETENTION_MODE",
    "WITNESSES",
}


def test_function_environment_is_what_settings_reads(function: dict[str, Any]) -> None:
    keys = function_env_keys(function)
    assert {"INSTANCE_CONNECTION_NAME", "DB_USER", "DB_NAME", "KMS_KEY_VERSION"} <= keys
    unknown = sorted(keys - settings_environment_variables() - PENDING_APP_SETTINGS)
    assert not unknown, f"Terraform sets variables Settings never reads: {unknown}"


def test_pending_settings_are_set_and_documented(function: dict[str, Any]) -> None:
    keys = function_env_keys(function)
    readme = (MODULES.parent / "README.md").read_text(encoding="utf-8")
    for name in sorted(PENDING_APP_SETTINGS):
        assert name in keys, f"{name} is listed as pending but Terraform does not set it"
        assert f"`{name}`" in readme, f"infra/README.md does not document {name}"


def test_checkpoint_and_timeout_settings_reach_the_functions() -> None:
    env = locals_of(MODULES / "functions" / "main.tf")
    assert env["base_env"]["CHECKPOINT_KMS_KEY_VERSION"] == "${var.checkpoint_kms_key_version}"
    assert env["base_env"]["LOG_ORIGIN"] == "${var.log_origin}"
    assert env["checkpoint_env"]["WITNESSES"] == "${jsonencode(var.witnesses)}"
    assert env["checkpoint_env"]["CHECKPOINT_MAX_AGE"] == "${tostring(var.checkpoint_max_age)}"
    for name in (
        "DB_LOCK_TIMEOUT_MS",
        "DB_STATEMENT_TIMEOUT_MS",
        "DB_IDLE_IN_TX_TIMEOUT_MS",
        "DB_CONNECT_TIMEOUT_S",
    ):
        assert "var.db_timeouts." in env["base_env"][name], name
        assert name in settings_environment_variables(), name
    registry = variables("registry")
    assert registry["checkpoint_max_age"]["default"] == 60
    assert registry["witnesses"]["default"] == []
    timeouts = registry["db_timeouts"]["default"]
    assert 0 < timeouts["lock_timeout_ms"] < timeouts["statement_timeout_ms"] <= 30000
    assert 0 < timeouts["idle_in_transaction_timeout_ms"] <= 60000
    assert 0 < timeouts["connect_timeout_s"] <= 30
    main = (MODULES / "registry" / "main.tf").read_text(encoding="utf-8")
    assert "checkpoint_kms_key_version = module.kms.checkpoint_key_version_name" in main


def test_job_environment_is_what_settings_reads() -> None:
    keys = job_env_keys()
    assert {"INSTANCE_CONNECTION_NAME", "DB_USER", "DB_RUNTIME_LOGINS"} <= keys
    unknown = sorted(keys - settings_environment_variables())
    assert not unknown, f"the migration job sets variables Settings never reads: {unknown}"


def test_functions_use_iam_auth_over_the_private_ip(function: dict[str, Any]) -> None:
    base = locals_of(MODULES / "functions" / "main.tf")["base_env"]
    assert base["DB_IAM_AUTH"] == "true"
    assert base["DB_IP_TYPE"] == "private"
    job = locals_of(MODULES / "migration_job" / "main.tf")["job_env"]
    assert job["DB_IAM_AUTH"] == "true"
    assert job["DB_IP_TYPE"] == "private"
    (service,) = function["service_config"]
    assert service["vpc_connector"] == "${var.vpc_connector_id}"
    assert service["vpc_connector_egress_settings"] == "PRIVATE_RANGES_ONLY"


def test_only_signing_functions_sign_and_publish() -> None:
    signing = {name for name, f in registry_functions().items() if f["signs"]}
    assert signing == {"create", "supersede", "verify"}
    main = (MODULES / "registry" / "main.tf").read_text(encoding="utf-8")
    assert "signer_members            = { for name in local.signing_functions" in main
    assert "for name in local.signing_functions : name => module.identity.function_members" in main


def test_invokers_are_never_public() -> None:
    variable = variables("functions")["invoker_members"]
    assert variable["default"] == []
    assert "allUsers" in variable["validation"][0]["condition"]


def test_scheduler_jobs_call_verify_with_their_own_identity() -> None:
    (job,) = resources("google_cloud_scheduler_job").values()
    jobs = locals_of(MODULES / "scheduler" / "main.tf")["jobs"]
    assert {j["path"] for j in jobs.values()} == {
        "/maintenance/checkpoint-sweep",
        "/maintenance/expire-idempotency",
    }
    assert jobs["checkpoint"]["schedule"] == "${var.checkpoint_schedule}"
    assert variables("scheduler")["checkpoint_schedule"]["default"] == "* * * * *"
    (target,) = job["http_target"]
    assert target["http_method"] == "POST"
    assert target["uri"] == "${var.verify_url}${each.value.path}"
    (oidc,) = target["oidc_token"]
    assert oidc["service_account_email"] == "${var.service_account_email}"
    assert oidc["audience"] == "${var.verify_url}"
    assert "oauth_token" not in target


def test_scheduler_may_invoke_verify_only() -> None:
    binding = resources("google_cloud_run_v2_service_iam_member")["functions/scheduler"]
    assert binding["role"] == "roles/run.invoker"
    assert binding["member"] == "serviceAccount:${var.scheduler_service_account}"
    scheduled = {name for name, f in registry_functions().items() if f["scheduled"]}
    assert scheduled == {"verify"}
    env = locals_of(MODULES / "functions" / "main.tf")["scheduler_env"]
    assert env == {
        "SCHEDULER_SERVICE_ACCOUNT": "${var.scheduler_service_account}",
        "SCHEDULER_AUDIENCE": "${var.scheduler_audience}",
    }
    main = (MODULES / "registry" / "main.tf").read_text(encoding="utf-8")
    assert "scheduler_audience        = local.verify_url" in main
    assert 'resource "terraform_data" "verify_url"' in main
    # The scheduler account is granted nothing at project level.
    for binding in resources("google_project_iam_member").values():
        assert "scheduler" not in binding["member"]


def test_the_job_runs_the_images_entry_point_which_is_the_migration_job() -> None:
    """The job runs `python -m tools.migrate` (ADR 0007's role protocol), never bare
    alembic, which cannot create the registry roles on Cloud SQL."""
    (job,) = resources("google_cloud_run_v2_job").values()
    (container,) = job["template"][0]["template"][0]["containers"]
    assert "command" not in container and "args" not in container
    dockerfile = (MODULES.parents[1] / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["python", "-m", "tools.migrate"]' in dockerfile
    assert "\nCMD " not in dockerfile
    assert "COPY tools/__init__.py tools/migrate.py ./tools/" in dockerfile
    ignore = (MODULES.parents[1] / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"!tools/__init__.py", "!tools/migrate.py", "!shared/", "!migrations/"} <= set(ignore)
