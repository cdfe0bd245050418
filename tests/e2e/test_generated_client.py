"""A client generated from docs/openapi/<function>.json drives that function as deployed.

openapi-python-client (a generator we did not write) turns the per-function documents
into Python packages; the test then creates and reads entities with them against
standalone ``functions-framework --target create|query`` processes, whose paths start at
the function's root, and against the dev server's mount of the same function. Responses
come back as the typed model of their entity type (the discriminator on entity_type).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.e2e.e2e_support import REPO, Keys, function_env

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def _generate(function: str, out: Path) -> str:
    package = f"generated_{function}_client"
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(REPO / "docs" / "openapi" / f"{function}.json"),
            "--meta",
            "none",
            "--output-path",
            str(out / package),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The generator drops any schema it cannot model and says so; none may be dropped.
    assert "Unable to process" not in result.stdout + result.stderr, result.stdout
    return package


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    out = tmp_path_factory.mktemp("generated")
    packages = {function: _generate(function, out) for function in ("create", "query")}
    sys.path.insert(0, str(out))
    try:
        yield packages
    finally:
        sys.path.remove(str(out))
        for name in list(sys.modules):
            if name.startswith("generated_"):
                del sys.modules[name]


def _module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def _skill(generated: dict[str, str], name: str) -> Any:
    models = _module(generated["create"], "models")
    data = models.SkillData(
        name=name,
        description="Made by a generated client",
        category=models.SkillDataCategory("technical"),
    )
    return models.CreateSkill(entity_type="Skill", data=data)


def _create_and_read(
    generated: dict[str, str], create_client: Any, query_client: Any, name: str
) -> None:
    create_entity = _module(generated["create"], "api.create.create_entity")
    created_response = create_entity.sync_detailed(
        client=create_client, body=_skill(generated, name)
    )
    assert created_response.status_code == 201, created_response.content
    created = created_response.parsed
    assert type(created).__name__ == "SkillRecord"
    assert created.data.name == name
    assert created.version == 1

    get_entity = _module(generated["query"], "api.query.get_entity")
    fetched = get_entity.sync(client=query_client, entity_id=created.entity_id)
    assert type(fetched).__name__ == "SkillRecord"
    assert fetched.to_dict() == created.to_dict()
    assert str(fetched.status) == "pending_certification"

    list_entities = _module(generated["query"], "api.query.list_entities")
    entity_type = _module(generated["query"], "models").EntityType
    page = list_entities.sync(client=query_client, entity_type=entity_type("Skill"), limit=200)
    assert created.entity_id in {item.entity_id for item in page.items}
    assert {type(item).__name__ for item in page.items} == {"SkillRecord"}

    # Errors are typed too: another tenant's entity is a problem+json 404.
    missing = get_entity.sync_detailed(
        client=query_client, entity_id="01900000-0000-7000-8000-000000000000"
    )
    assert missing.status_code == 404
    assert type(missing.parsed).__name__ == "Problem"
    assert missing.parsed.type_.endswith("/not-found")


def test_generated_client_drives_standalone_functions(
    generated: dict[str, str], function_servers: dict[str, str], keys: Keys, tenant: str
) -> None:
    token = keys.token(tenant)
    create_client = _module(generated["create"], "client").AuthenticatedClient(
        base_url=function_servers["create"], token=token
    )
    query_client = _module(generated["query"], "client").AuthenticatedClient(
        base_url=function_servers["query"], token=token
    )
    _create_and_read(generated, create_client, query_client, "Generated standalone")


def test_generated_client_drives_the_dev_server_mount(
    generated: dict[str, str],
    database: Any,
    keys: Keys,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dev server's app in process, under exactly the mounts `make run` serves; only
    # the base URL differs from the standalone run.
    from functions import runtime
    from tools import devserver

    for name, value in function_env(database, keys).items():
        monkeypatch.setenv(name, value)
    runtime.install(None)
    try:
        transport = httpx.WSGITransport(app=devserver.build_app())
        token = keys.token(tenant)
        clients = {}
        for function in ("create", "query"):
            client = _module(generated[function], "client").AuthenticatedClient(
                base_url=f"http://127.0.0.1:8080/{function}", token=token
            )
            client.set_httpx_client(
                httpx.Client(
                    base_url=f"http://127.0.0.1:8080/{function}",
                    transport=transport,
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            clients[function] = client
        _create_and_read(generated, clients["create"], clients["query"], "Generated dev server")
    finally:
        runtime.install(None)
