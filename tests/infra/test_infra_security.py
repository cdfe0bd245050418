"""Project-wide invariants: no primitive roles, no public members, keys that cannot be
destroyed, private versioned buckets, and typed, described variables."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.infra_hcl import INFRA, load, locals_of, module_dir, resources, setting, tf_files

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}


def walk_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in walk_strings(v)]
    return [value] if isinstance(value, str) else []


def test_no_primitive_roles_anywhere() -> None:
    for path in tf_files():
        text = path.read_text(encoding="utf-8")
        found = set(re.findall(r"roles/[A-Za-z.]+", text)) & PRIMITIVE_ROLES
        assert not found, f"{path.relative_to(INFRA)} uses {found}"
        parsed = {s for s in walk_strings(load(path)) if s in PRIMITIVE_ROLES}
        assert not parsed, f"{path.relative_to(INFRA)} uses {parsed}"


def test_every_iam_role_is_predefined_and_narrow() -> None:
    roles = []
    for kind in (
        "google_project_iam_member",
        "google_kms_crypto_key_iam_member",
        "google_storage_bucket_iam_member",
        "google_artifact_registry_repository_iam_member",
        "google_cloud_run_v2_service_iam_member",
    ):
        roles += [(name, body["role"]) for name, body in resources(kind).items()]
    assert roles, "no IAM bindings found"
    for name, role in roles:
        if name == "identity/database":
            # Drawn from local.database_roles, checked in the next test.
            assert role == "${each.value.role}"
            continue
        if name == "bucket/object_publisher":
            # A project custom role, checked in test_checkpoint_publisher_role_is_narrow.
            assert role == "${var.object_publisher_role}"
            continue
        assert role.startswith("roles/"), (name, role)
        assert role not in PRIMITIVE_ROLES, (name, role)
    assert not resources("google_project_iam_binding"), "authoritative project bindings"
    assert not resources("google_project_iam_policy"), "authoritative project policy"


def test_project_roles_are_the_cloud_sql_pair_on_one_instance_and_build_access() -> None:
    bindings = resources("google_project_iam_member")
    assert set(bindings) == {
        "identity/database",
        "identity/builder_logs",
        "identity/builder_staging_sources",
    }
    assert bindings["identity/builder_logs"]["role"] == "roles/logging.logWriter"
    condition = bindings["identity/database"]["condition"][0]["expression"]
    assert condition == "${local.sql_condition}"
    identity = (INFRA / "modules" / "identity" / "main.tf").read_text(encoding="utf-8")
    assert 'database_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]' in identity


def test_builder_reads_the_cloud_functions_staging_bucket_only() -> None:
    """Gen2 builds read the source from gcf-v2-sources-NUMBER-REGION, not only from ours."""
    binding = resources("google_project_iam_member")["identity/builder_staging_sources"]
    assert binding["role"] == "roles/storage.objectViewer"
    assert binding["member"] == "serviceAccount:${google_service_account.builder.email}"
    assert binding["condition"][0]["expression"] == "${local.staging_sources_condition}"
    identity = locals_of(INFRA / "modules" / "identity" / "main.tf")
    assert identity["staging_sources_bucket"] == (
        "gcf-v2-sources-${var.project_number}-${var.region}"
    )
    condition = identity["staging_sources_condition"]
    # Exactly that bucket and its objects, not every bucket whose name starts the same.
    assert "${local.staging_sources_bucket}/" in condition
    assert 'resource.name == "projects/_/buckets/${local.staging_sources_bucket}"' in condition


def test_checkpoint_publisher_role_is_narrow() -> None:
    (role,) = resources("google_project_iam_custom_role").values()
    assert set(role["permissions"]) == {
        "storage.objects.create",
        "storage.objects.delete",  # replacing the `checkpoint` object needs it
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.setRetention",
    }
    # Never the permissions that undo retention or change access.
    forbidden = {"storage.objects.overrideUnlockedRetention", "storage.objects.setIamPolicy"}
    assert not forbidden & set(role["permissions"])


def test_no_public_members() -> None:
    for path in tf_files():
        text = path.read_text(encoding="utf-8")
        for member in ('"allUsers"', '"allAuthenticatedUsers"'):
            # Allowed only inside the validation that rejects them.
            for line in text.splitlines():
                if member in line:
                    assert "contains(" in line, f"{path.relative_to(INFRA)}: {line.strip()}"


def test_kms_keys_cannot_be_destroyed() -> None:
    keys = resources("google_kms_crypto_key")
    assert set(keys) == {"kms/signing", "kms/checkpoint", "kms/data"}
    for name, key in keys.items():
        assert key["lifecycle"][0]["prevent_destroy"] is True, name


def test_signing_key_is_asymmetric_with_an_allowed_algorithm() -> None:
    key = resources("google_kms_crypto_key")["kms/signing"]
    assert key["purpose"] == "ASYMMETRIC_SIGN"
    variables = {
        name: body
        for block in load(INFRA / "modules" / "kms" / "variables.tf")["variable"]
        for name, body in block.items()
    }
    assert variables["algorithm"]["default"] == "EC_SIGN_P256_SHA256"
    condition = variables["algorithm"]["validation"][0]["condition"]
    assert "RSA_SIGN_PSS_4096_SHA256" in condition


def test_checkpoint_key_is_ed25519_for_signed_notes() -> None:
    key = resources("google_kms_crypto_key")["kms/checkpoint"]
    assert key["purpose"] == "ASYMMETRIC_SIGN"
    assert key["version_template"][0]["algorithm"] == "EC_SIGN_ED25519"
    kms = (INFRA / "modules" / "kms" / "main.tf").read_text(encoding="utf-8")
    for role in ("checkpoint_signer", "checkpoint_public_key_viewer"):
        assert f'resource "google_kms_crypto_key_iam_member" "{role}"' in kms


def _data(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for block in load(path).get("data", []):
            for name, body in block.get(kind, {}).items():
                found[f"{module_dir(path)}/{name}"] = body
    return found


def test_key_versions_the_functions_use_must_exist_and_be_enabled() -> None:
    """KMS_KEY_VERSION and CHECKPOINT_KMS_KEY_VERSION are read back from KMS: the plan
    (or apply, on the first run) fails on a missing, disabled or wrong-algorithm version."""
    versions = _data("google_kms_crypto_key_version")
    assert set(versions) == {"kms/signing", "kms/checkpoint"}
    for name, version in versions.items():
        postconditions = [p["condition"] for p in version["lifecycle"][0]["postcondition"]]
        assert '${self.state == "ENABLED"}' in postconditions, name
        assert any("self.algorithm ==" in p for p in postconditions), name
    outputs = load(INFRA / "modules" / "kms" / "outputs.tf")["output"]
    values = {name: body["value"] for block in outputs for name, body in block.items()}
    assert "data.google_kms_crypto_key_version.signing.version" in values["key_version_name"]
    assert (
        "data.google_kms_crypto_key_version.checkpoint.version"
        in values["checkpoint_key_version_name"]
    )


def test_buckets_are_private_uniform_and_versioned() -> None:
    buckets = resources("google_storage_bucket")
    assert buckets, "no buckets found"
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["versioning"][0]["enabled"] is True, name
        assert bucket["encryption"][0]["default_kms_key_name"], name


def test_no_bucket_combines_versioning_with_a_retention_policy() -> None:
    """GCS refuses Object Versioning on a bucket with a retention policy, and a bucket-wide
    policy would freeze the `checkpoint` object that every new checkpoint replaces."""
    for path in tf_files():
        text = path.read_text(encoding="utf-8")
        assert "retention_policy" not in text, f"{path.relative_to(INFRA)} sets retention_policy"
    for name, bucket in resources("google_storage_bucket").items():
        assert "retention_policy" not in bucket, name
        dynamic = {k for d in bucket.get("dynamic", []) for k in d}
        assert "retention_policy" not in dynamic, name


def test_checkpoint_bucket_uses_object_retention_lock() -> None:
    (bucket,) = resources("google_storage_bucket").values()
    assert bucket["enable_object_retention"] == "${var.object_retention}"
    registry = (INFRA / "modules" / "registry" / "main.tf").read_text(encoding="utf-8")
    block = registry.split('module "checkpoint_bucket"', 1)[1].split("\n}\n", 1)[0]
    assert "object_retention      = true" in block
    assert "google_project_iam_custom_role.checkpoint_publisher.name" in block
    # The other buckets hold nothing immutable and keep the default (off).
    for other in ("access_log_bucket", "source_bucket"):
        other_block = registry.split(f'module "{other}"', 1)[1].split("\n}\n", 1)[0]
        assert "object_retention" not in other_block, other
    # The publisher learns how long to retain each immutable object, and how.
    functions = locals_of(INFRA / "modules" / "functions" / "main.tf")["checkpoint_env"]
    assert functions["CHECKPOINT_RETENTION_DAYS"] == "${tostring(var.checkpoint_retention.days)}"
    assert functions["CHECKPOINT_RETENTION_MODE"] == "${var.checkpoint_retention.mode}"


def test_prod_locks_published_objects() -> None:
    assert setting("prod", "checkpoint_retention_mode") == "Locked"
    assert setting("prod", "checkpoint_retention_days") >= 365


def test_terraform_and_scheduler_apis_are_enabled() -> None:
    expression = locals_of(INFRA / "modules" / "registry" / "main.tf")["services"]
    services = set(re.findall(r'"([a-z]+\.googleapis\.com)"', expression))
    assert {
        "cloudresourcemanager.googleapis.com",
        "serviceusage.googleapis.com",
        "cloudscheduler.googleapis.com",
    } <= services


def variable_blocks() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in tf_files():
        for block in load(path).get("variable", []):
            for name, body in block.items():
                found.append((module_dir(path), name, body))
    return found


@pytest.mark.parametrize(("where", "name", "body"), variable_blocks())
def test_every_variable_is_typed_and_described(where: str, name: str, body: dict[str, Any]) -> None:
    assert "type" in body, f"{where}: variable {name} has no type"
    assert body.get("description"), f"{where}: variable {name} has no description"


def test_every_module_has_main_variables_outputs() -> None:
    for module in sorted((INFRA / "modules").iterdir()):
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (module / name).is_file(), f"{module.name}/{name} is missing"
