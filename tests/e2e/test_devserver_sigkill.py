"""`make run` leaves no PostgreSQL behind, even when the dev server is SIGKILLed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.e2e_support import start_devserver
from tools.pg_watchdog import postmaster_pid

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
_CONFIG = {
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "INSTANCE_CONNECTION_NAME",
    "SIGNING_KEY_FILE",
    "KMS_KEY_VERSION",
    "CHECKPOINT_KEY_FILE",
    "CHECKPOINT_KMS_KEY_VERSION",
    "LOG_ORIGIN",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_JWKS_URL",
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_sigkilled_dev_server_takes_its_database_down(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG}
    env["REGISTRY_DATA_DIR"] = str(tmp_path / "data")
    server, _ = start_devserver(env, tmp_path / "devserver.log", timeout=180)
    pgdata = tmp_path / "data" / "postgres"
    try:
        postmaster = postmaster_pid(pgdata)
        assert postmaster is not None and _alive(postmaster)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _alive(postmaster):
            assert time.monotonic() < deadline, "the embedded PostgreSQL outlived the server"
            time.sleep(0.2)
    finally:
        if server.poll() is None:
            server.kill()
        leftover = postmaster_pid(pgdata)
        if leftover is not None and _alive(leftover):
            os.kill(leftover, signal.SIGINT)
