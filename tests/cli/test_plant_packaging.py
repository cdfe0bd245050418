"""The package installs from a wheel into a fresh virtualenv and works outside the repo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shared.core.signing import LocalSigner
from tests.cli.plant_support import signed_log, write_export

REPO = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        found = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if found:
            pins[found.group(1).lower()] = found.group(2)
    return pins


def test_the_base_dependencies_are_pinned_as_in_the_bundle() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = _pins(project["dependencies"])
    bundle = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert base and all(bundle.get(name) == version for name, version in base.items()), base
    cli = _pins(project["optional-dependencies"]["cli"])
    dev = _pins((REPO / "requirements-dev.txt").read_text().splitlines())
    assert cli and all(dev.get(name) == version for name, version in cli.items()), cli
    # The deployed bundle stays lean: no CLI dependency leaks into it.
    assert not set(cli) & set(bundle)


@pytest.mark.slow
def test_a_wheel_installs_into_a_fresh_venv_and_audits_outside_the_repo(
    tmp_path: Path, signer: LocalSigner
) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("plant_registry-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[cli]"],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Nothing of the checkout may leak in: not its directory, not a PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    plant = str(venv / "bin" / "plant")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [plant, *args], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
        )

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    assert "audit" in shown.stdout and "export" in shown.stdout
    export = write_export(elsewhere / "export", signed_log(20, signer), checkpoint_sizes=(10, 20))
    audited = run("audit", "export")
    assert audited.returncode == 0, audited.stderr
    assert audited.stdout.startswith("OK: 20 records verified in order")
    # A finished export whose log was cut short is a removal, in the installed tool too.
    manifest = json.loads((export / "manifest.json").read_text())
    lines = (export / "log.jsonl").read_bytes().splitlines(keepends=True)
    (export / "log.jsonl").write_bytes(b"".join(lines[:15]))
    manifest["log_bytes"] = sum(len(line) for line in lines[:15])
    (export / "manifest.json").write_text(json.dumps({**manifest, "complete": True}))
    removed = run("audit", "export")
    assert removed.returncode == 1 and "records were removed" in removed.stderr
    # The wheel carries the client and the pure core, nothing of the deployment.
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import functions"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        check=False,
    )
    assert listing.returncode != 0
