"""The connection budget: every function instance's pool, one migration and headroom
must fit under the max_connections flag, in every environment."""

from __future__ import annotations

import pytest
from infra_hcl import FUNCTION_NAMES, MODULES, locals_of, resources, setting


def budget(env: str) -> tuple[int, int]:
    scaling = setting(env, "function_scaling")
    assert set(scaling) == set(FUNCTION_NAMES), f"envs/{env} must size all four functions"
    functions = sum(
        s["max_instances"] * (s["pool_size"] + s["max_overflow"]) for s in scaling.values()
    )
    total = functions + setting(env, "migration_connections") + setting(env, "connection_headroom")
    return total, setting(env, "max_connections")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_connection_budget_fits_max_connections(env: str) -> None:
    total, max_connections = budget(env)
    assert isinstance(max_connections, int)
    assert total <= max_connections, f"{env}: budget {total} > max_connections {max_connections}"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_headroom_and_migration_are_counted(env: str) -> None:
    assert setting(env, "connection_headroom") >= 5
    assert setting(env, "migration_connections") >= 2


def test_registry_computes_and_asserts_the_same_budget() -> None:
    registry = locals_of(MODULES / "registry" / "main.tf")
    assert "s.max_instances * (s.pool_size + s.max_overflow)" in registry["function_connections"]
    assert registry["connection_budget"] == (
        "${local.function_connections + var.migration_connections + var.connection_headroom}"
    )
    checks = (MODULES / "registry" / "main.tf").read_text(encoding="utf-8")
    assert 'check "connection_budget"' in checks
    assert "local.connection_budget <= var.max_connections" in checks


def test_each_function_gets_its_pool_settings() -> None:
    (function,) = resources("google_cloudfunctions2_function").values()
    env = function["service_config"][0]["environment_variables"]
    assert "DB_POOL_SIZE = tostring(each.value.pool_size)" in env
    assert "DB_MAX_OVERFLOW = tostring(each.value.max_overflow)" in env
    assert function["service_config"][0]["max_instance_count"] == "${each.value.max_instances}"
