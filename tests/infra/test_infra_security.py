"""Project-wide invariants: no primitive roles, no public members, keys that cannot be
destroyed, private versioned buckets, and typed, described variables."""

from __future__ import annotations

import re
from typing import Any

import pytest
from infra_hcl import INFRA, load, module_dir, resources, tf_files

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
        assert role.startswith("roles/"), (name, role)
        assert role not in PRIMITIVE_ROLES, (name, role)
    assert not resources("google_project_iam_binding"), "authoritative project bindings"
    assert not resources("google_project_iam_policy"), "authoritative project policy"


def test_project_roles_are_the_cloud_sql_pair_on_one_instance_and_build_logs() -> None:
    bindings = resources("google_project_iam_member")
    assert set(bindings) == {"identity/database", "identity/builder_logs"}
    assert bindings["identity/builder_logs"]["role"] == "roles/logging.logWriter"
    condition = bindings["identity/database"]["condition"][0]["expression"]
    assert condition == "${local.sql_condition}"
    identity = (INFRA / "modules" / "identity" / "main.tf").read_text(encoding="utf-8")
    assert 'database_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]' in identity


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
    assert set(keys) == {"kms/signing", "kms/data"}
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


def test_buckets_are_private_uniform_and_versioned() -> None:
    buckets = resources("google_storage_bucket")
    assert buckets, "no buckets found"
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["versioning"][0]["enabled"] is True, name
        assert bucket["encryption"][0]["default_kms_key_name"], name


def test_checkpoint_bucket_has_a_retention_policy() -> None:
    (bucket,) = resources("google_storage_bucket").values()
    dynamic = {k: v for d in bucket["dynamic"] for k, v in d.items()}
    content = dynamic["retention_policy"]["content"][0]
    assert content["is_locked"] == "${var.retention_locked}"
    registry = (INFRA / "modules" / "registry" / "main.tf").read_text(encoding="utf-8")
    block = registry.split('module "checkpoint_bucket"', 1)[1].split("\n}\n", 1)[0]
    assert "retention_days    = var.checkpoint_retention_days" in block
    assert "retention_locked  = var.checkpoint_retention_locked" in block


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
