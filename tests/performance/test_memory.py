"""Bounded memory: the largest accepted batch peaks at most 256 MiB over the idle process.

The request runs in a child process (tests/performance/memory_probe.py) through the real
create function over the real database, so the figure is the process's own peak RSS
(VmHWM), not an estimate. The same child reads ``/query/log?limit=1000`` back, which
must stop at MAX_LOG_PAGE_BYTES.

    .venv/bin/pytest tests/performance/test_memory.py -q -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import DEFAULT_MAX_LOG_PAGE_BYTES
from tests.conftest import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MAX_PEAK_OVER_IDLE = 256 * 1024 * 1024


def test_the_largest_batch_stays_within_256_mib_over_idle(
    database: Database, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.performance.memory_probe",
            database.runtime_url,
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    over_idle = figures["peak_rss"] - figures["idle_rss"]
    print(
        f"\nmemory: body {figures['body_bytes'] / 2**20:.1f} MiB, "
        f"idle {figures['idle_rss'] / 2**20:.0f} MiB, "
        f"peak {figures['peak_rss'] / 2**20:.0f} MiB, over idle {over_idle / 2**20:.0f} MiB; "
        f"log page {figures['log_page_items']} items, {figures['log_page_bytes'] / 2**20:.1f} MiB"
    )
    assert figures["status"] == 201
    assert figures["body_bytes"] > 15 * 2**20
    assert over_idle <= MAX_PEAK_OVER_IDLE
    assert figures["log_page_status"] == 200
    # The budget counts canonical bytes; a record's JSON also carries its data and
    # base64 canonical form, about 2.5 times as much.
    assert figures["log_page_bytes"] <= 3 * DEFAULT_MAX_LOG_PAGE_BYTES
    assert figures["log_page_items"] < 1000
