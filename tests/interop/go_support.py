"""Build the Go interop checker (tests/interop/tlogcheck), or skip with the reason.

The checker (tests/interop/tlogcheck/main.go) uses golang.org/x/mod/sumdb/note and
sumdb/tlog from Debian's golang-golang-x-mod-dev, compiled with Debian's golang-go in
GOPATH mode, so nothing is downloaded. ``.ci/run`` installs both packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

GOPATH = Path(os.environ.get("INTEROP_GOPATH", "/usr/share/gocode"))
X_MOD = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb"
SOURCE = Path(__file__).resolve().parent / "tlogcheck"


@dataclass(frozen=True)
class GoResult:
    returncode: int
    report: dict[str, object]
    stderr: str


@dataclass(frozen=True)
class TlogCheck:
    binary: Path
    build_seconds: float

    def run(self, *args: str, timeout: float = 120) -> GoResult:
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=timeout
        )
        report = json.loads(done.stdout) if done.stdout.strip() else {}
        return GoResult(done.returncode, report, done.stderr)


def build_tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> TlogCheck:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go interop: no `go` on PATH (apt-get install golang-go)")
    if not (X_MOD / "note").is_dir() or not (X_MOD / "tlog").is_dir():
        pytest.skip(f"Go interop: no x/mod sumdb sources under {X_MOD} (golang-golang-x-mod-dev)")
    out = tmp_path_factory.mktemp("go") / "tlogcheck"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOFLAGS": "",
        # Go's own build cache (under $HOME) makes rebuilds take a second, not ten.
        "GOCACHE": os.environ.get("GOCACHE")
        or str(
            Path.home() / ".cache" / "go-build"
            if os.environ.get("HOME")
            else tmp_path_factory.getbasetemp() / "gocache"
        ),
        "CGO_ENABLED": "0",
    }
    started = time.perf_counter()
    built = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"go build of the interop checker failed:\n{built.stderr}")
    return TlogCheck(out, time.perf_counter() - started)
