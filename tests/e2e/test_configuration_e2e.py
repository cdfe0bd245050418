"""A standalone function with no configuration starts, says why in its log and /healthz."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from shared.settings import ENVIRONMENT_VARIABLES
from tests.e2e.e2e_support import REPO, START_TIMEOUT, free_port, http, stop, wait_until_serving

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_an_unconfigured_function_names_every_missing_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "query",
            "--source",
            "main.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", process, START_TIMEOUT)
        health = http("GET", f"http://127.0.0.1:{port}/healthz")
        assert health.status == 500
        assert health.body["type"].endswith("/configuration-error")
        assert health.body["variables"] == [
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
    finally:
        stop(process, signal.SIGTERM)
    assert process.stdout is not None
    lines = [
        json.loads(line)
        for line in process.stdout.read().decode().splitlines()
        if line.startswith("{")
    ]
    cold_start = [line for line in lines if "configuration is incomplete" in line["message"]]
    assert len(cold_start) >= 1 and cold_start[0]["severity"] == "ERROR"
    assert "SIGNING_KEY_FILE" in cold_start[0]["variables"]
