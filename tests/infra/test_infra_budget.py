"""The connection budget: two revisions of every function (a rollout runs old and new side
by side) at max instances x (pool + overflow), one migration and headroom must fit under
the max_connections flag in every environment, each function's request concurrency must
fit in its pool, and the plan must fail (not warn) when either does not hold."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.infra_hcl import FUNCTION_NAMES, MODULES, locals_of, resources, setting, variables

ROLLOUT_REVISIONS = 2


def budget(env: str) -> tuple[int, int]:
    scaling = setting(env, "function_scaling")
    assert set(scaling) == set(FUNCTION_NAMES), f"envs/{env} must size all four functions"
    per_revision = sum(
        s["max_instances"] * (s["pool_size"] + s["max_overflow"]) for s in scaling.values()
    )
    total = (
        ROLLOUT_REVISIONS * per_revision
        + setting(env, "migration_connections")
        + setting(env, "connection_headroom")
    )
    return total, setting(env, "max_connections")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_connection_budget_with_two_revisions_fits_max_connections(env: str) -> None:
    total, max_connections = budget(env)
    assert isinstance(max_connections, int)
    assert total <= max_connections, f"{env}: budget {total} > max_connections {max_connections}"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_request_concurrency_fits_each_pool(env: str) -> None:
    for name, s in setting(env, "function_scaling").items():
        assert s["concurrency"] <= s["pool_size"] + s["max_overflow"], (
            f"{env}/{name}: concurrency {s['concurrency']} > pool {s['pool_size']} "
            f"+ overflow {s['max_overflow']}: requests would queue for a connection, then 503"
        )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_headroom_and_migration_are_counted(env: str) -> None:
    assert setting(env, "connection_headroom") >= 5
    assert setting(env, "migration_connections") >= 2


def test_registry_counts_two_revisions() -> None:
    registry = locals_of(MODULES / "registry" / "main.tf")
    assert registry["rollout_revisions"] == 2
    assert (
        "s.max_instances * (s.pool_size + s.max_overflow)" in registry["per_revision_connections"]
    )
    assert registry["function_connections"] == (
        "${local.rollout_revisions * local.per_revision_connections}"
    )
    assert registry["connection_budget"] == (
        "${local.function_connections + var.migration_connections + var.connection_headroom}"
    )


def _preconditions(resource: dict[str, Any]) -> list[str]:
    return [p["condition"] for life in resource["lifecycle"] for p in life.get("precondition", [])]


def test_the_plan_fails_rather_than_warns() -> None:
    text = (MODULES / "registry" / "main.tf").read_text(encoding="utf-8")
    # A `check` block only produces a warning; the budget must be a precondition.
    assert 'check "' not in text, "use preconditions (errors), not check blocks (warnings)"
    guard = resources("terraform_data")["registry/connection_budget"]
    conditions = _preconditions(guard)
    assert "${local.connection_budget <= var.max_connections}" in conditions
    assert any("s.concurrency <= s.pool_size + s.max_overflow" in c for c in conditions)
    instance = resources("google_sql_database_instance")["database/this"]
    assert "${var.connection_budget <= var.max_connections}" in _preconditions(instance)
    for module in ("registry", "functions"):
        scaling = "function_scaling" if module == "registry" else "functions"
        validations = [v["condition"] for v in variables(module)[scaling]["validation"]]
        assert any("concurrency <= " in v and "pool_size + " in v for v in validations), module


def test_each_function_gets_its_pool_settings() -> None:
    (function,) = resources("google_cloudfunctions2_function").values()
    env = function["service_config"][0]["environment_variables"]
    assert "DB_POOL_SIZE = tostring(each.value.pool_size)" in env
    assert "DB_MAX_OVERFLOW = tostring(each.value.max_overflow)" in env
    assert function["service_config"][0]["max_instance_count"] == "${each.value.max_instances}"
    assert (
        function["service_config"][0]["max_instance_request_concurrency"]
        == "${each.value.concurrency}"
    )
