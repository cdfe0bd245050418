"""Read the Terraform under infra/ as plain Python data (python-hcl2), for tests/infra.

python-hcl2 keeps string literals quoted ('"on"') and expressions wrapped ('${var.x}'),
and marks blocks with '__is_block__'. ``load`` strips the quotes and the markers, so a
literal reads as its value and an expression stays recognisable as '${...}'.

Example::

    instance = resources("google_sql_database_instance")["database/this"]
    assert instance["settings"][0]["ip_configuration"][0]["ipv4_enabled"] is False
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MODULES = INFRA / "modules"
ENVS = INFRA / "envs"
FUNCTION_NAMES = ("create", "query", "supersede", "verify")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
    return value


@functools.cache
def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = _clean(hcl2.load(handle))
    return document


def tf_files() -> list[Path]:
    files = sorted(p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts)
    assert files, f"no Terraform files under {INFRA}"
    return files


def module_dir(path: Path) -> str:
    """'database' for infra/modules/database/main.tf, 'envs/dev' for an environment."""
    rel = path.parent.relative_to(INFRA)
    return rel.parts[1] if rel.parts[0] == "modules" else "/".join(rel.parts)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of one type, keyed 'module/name'."""
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for block in load(path).get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[f"{module_dir(path)}/{name}"] = body
    return found


def blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Labelled top-level blocks of one kind (variable, module, output) in a file."""
    found: dict[str, dict[str, Any]] = {}
    for block in load(path).get(kind, []):
        found.update(block)
    return found


def locals_of(path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in load(path).get("locals", []):
        merged.update(block)
    return merged


def variables(module: str) -> dict[str, dict[str, Any]]:
    return blocks(MODULES / module / "variables.tf", "variable")


def registry_call(env: str) -> dict[str, Any]:
    calls = blocks(ENVS / env / "main.tf", "module")
    assert "registry" in calls, f"envs/{env}/main.tf does not call the registry module"
    return calls["registry"]


def setting(env: str, name: str) -> Any:
    """The value an environment gives a registry variable, or that variable's default."""
    call = registry_call(env)
    if name in call:
        return call[name]
    variable = variables("registry")[name]
    assert "default" in variable, f"envs/{env} does not set {name}, which has no default"
    return variable["default"]


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${")


def env_keys_in_expression(expression: str) -> set[str]:
    """Keys written inline in an object expression such as merge(..., { DB_USER = x })."""
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", expression))


def settings_environment_variables() -> set[str]:
    """Keys of ENVIRONMENT_VARIABLES in shared/settings.py, read with ast (no import)."""
    tree = ast.parse((REPO / "shared" / "settings.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id == "ENVIRONMENT_VARIABLES":
            assert isinstance(value, ast.Dict), "ENVIRONMENT_VARIABLES is not a dict literal"
            keys = {k.value for k in value.keys if isinstance(k, ast.Constant)}
            assert all(isinstance(k, str) for k in keys)
            return {str(k) for k in keys}
    raise AssertionError("shared/settings.py defines no ENVIRONMENT_VARIABLES")


def main_py_names() -> set[str]:
    """Top-level names main.py binds: functions it defines and names it imports or assigns.

    functions-framework looks the target up as an attribute of the module, so a function
    re-exported with ``from functions.create import create`` serves as well as a def.
    """
    main = REPO / "main.py"
    assert main.is_file(), "main.py (the functions-framework entry points) is missing"
    tree = ast.parse(main.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names
