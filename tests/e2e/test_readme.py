"""The README's walk-through and auditing section, run literally against a dev server.

Every ```sh block of the two sections is concatenated, in order, into one bash script
(the blocks share variables, as they do in a reader's shell) and run with
``set -euo pipefail`` from the checkout, against ``python -m tools.devserver`` (what
``make run`` runs) on a free port with its own data directory. ``HOME`` is a temporary
directory, so the auditor's ``~/plant-audit`` and the trust store land there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.e2e_support import REPO, start_devserver, stop

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]

SECTIONS = ("## Walk-through with curl", "## Auditing with the `plant` CLI")
_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)


def _section(readme: str, heading: str) -> str:
    start = readme.index(heading)
    following = readme.find("\n## ", start + len(heading))
    return readme[start : following if following != -1 else len(readme)]


def readme_script() -> str:
    readme = (REPO / "README.md").read_text()
    blocks = [block for heading in SECTIONS for block in _BLOCK.findall(_section(readme, heading))]
    assert len(blocks) >= 10, "the README's walk-through and auditing blocks were not found"
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_the_readme_blocks_use_no_hard_coded_ids() -> None:
    script = readme_script()
    commands = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", commands)


def test_the_readme_walk_through_and_audit_run_literally(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "JWT_", "PLANT_", "SIGNING_", "KMS_", "XDG_CONFIG"))
    }
    env.update(
        {
            "REGISTRY_DATA_DIR": str(tmp_path / "data"),
            "HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            # The checkout's virtualenv, as `make run` would use it.
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        }
    )
    server, port = start_devserver(env, tmp_path / "devserver.log")
    env["PORT"] = str(port)
    try:
        run = subprocess.run(
            ["bash", "-c", readme_script()],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        stop(server, signal.SIGINT)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    out = run.stdout
    assert '"status":"ok"' in out.replace(" ", "")
    assert "HTTP/1.1 409" in out
    assert "OK: record seq 4 (JobRole" in out
    assert "OK: 4 records in walkthrough-export (4 new in " in out
    assert "OK: 4 records verified in order" in out
    assert "OK: checkpoint of tree size 4 is the one verified before" in out
    assert "201 " * 10 in out
    assert "OK: 10000 records in scale-export (10000 new in " in out
    assert "OK: 10000 records verified in order" in out
    # 39 full level-0 tiles, a partial one of 16 and the level-1 tile of 39: every one
    # the service served matches the tile its records make.
    assert "41 tile(s) matching the records" in out
    # The progress bars went to stderr, with their rate.
    assert "records/s" in run.stderr
    # The auditor worked in their own directory, and the trust store is theirs.
    assert (home / "plant-audit" / "scale-export" / "manifest.json").exists()
    assert list((home / ".config" / "plant" / "logs").glob("*.json"))
    print(out[-600:])
