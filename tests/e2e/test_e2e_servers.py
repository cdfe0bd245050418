"""End to end over real sockets: the four functions as processes, and ``make run`` itself."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_support import REPO, Keys, free_port, http, stop, wait_until_serving

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]

SKILL = {"name": "Python", "description": "The language", "category": "technical"}


def test_create_query_supersede_verify_over_http(
    function_servers: dict[str, str], keys: Keys, tenant: str
) -> None:
    token = keys.token(tenant)
    created = http(
        "POST",
        f"{function_servers['create']}/",
        token=token,
        body={"entity_type": "Skill", "data": SKILL},
    )
    assert created.status == 201, created.body
    entity = created.body["entity_id"]

    fetched = http("GET", f"{function_servers['query']}/entities/{entity}", token=token)
    assert fetched.status == 200
    assert fetched.body == created.body

    newer = http(
        "POST",
        f"{function_servers['supersede']}/entities/{entity}",
        token=token,
        body={"expected_version": 1, "status": "certified", "reason": "reviewed"},
    )
    assert newer.status == 201, newer.body
    assert newer.body["version"] == 2

    stale = http(
        "POST",
        f"{function_servers['supersede']}/entities/{entity}",
        token=token,
        body={"expected_version": 1, "status": "deprecated", "reason": "late"},
    )
    assert stale.status == 409
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert stale.body["current_version"] == 2

    signed = http("POST", f"{function_servers['verify']}/checkpoint", token=token)
    assert (signed.status, signed.body["tree_size"]) == (200, 2)
    report = http("GET", f"{function_servers['verify']}/entities/{entity}", token=token)
    assert report.status == 200
    assert report.body["valid"] is True
    assert report.body["record"]["version"] == 2
    assert report.body["inclusion_proof"]["tree_size"] == 2

    # Routing and auth hold in the real server too.
    assert http("TRACE", f"{function_servers['create']}/", token=token).status == 405
    unauthenticated = http("GET", f"{function_servers['query']}/entities/{entity}")
    assert unauthenticated.status == 401
    assert "Bearer" in unauthenticated.headers["WWW-Authenticate"]
    other = http(
        "GET", f"{function_servers['query']}/entities/{entity}", token=keys.token(f"{tenant}-other")
    )
    assert other.status == 404


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode(errors="replace"))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_serves_and_stops_cleanly(database: Any, tmp_path: Path, tenant: str) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "JWT_", "SIGNING_", "KMS_", "MIGRATION_"))
    }
    # The test database keeps this fast; the data dir only holds the dev keys.
    env.update(
        {
            "PORT": str(port),
            "REGISTRY_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database.runtime_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        wait_until_serving(f"{base}/healthz", process, timeout=90)
        health = http("GET", f"{base}/healthz")
        assert health.status == 200
        assert health.body["status"] == "ok"
        spec = http("GET", f"{base}/openapi.json")
        assert spec.body["openapi"].startswith("3.1")
        deadline = time.monotonic() + 10
        token = None
        while token is None and time.monotonic() < deadline:
            line = lines.get(timeout=10)
            output.append(line)
            if "export TOKEN=" in line:
                token = line.split("export TOKEN=", 1)[1].strip()
        assert token, "".join(output)
        created = http(
            "POST",
            f"{base}/create/",
            token=token,
            body={
                "entity_type": "Industry",
                "data": {"name": f"Retail {tenant}", "description": "Shops"},
            },
        )
        assert created.status == 201, created.body
        listed = http("GET", f"{base}/query/entities/{created.body['entity_id']}", token=token)
        assert listed.status == 200
    finally:
        stop(process, signal.SIGINT, timeout=30)
        reader.join(timeout=5)
        while not lines.empty():
            output.append(lines.get())
    assert "[devserver] stopped" in "".join(output), "".join(output)
    assert "Traceback" not in "".join(output)
