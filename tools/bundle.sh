#!/usr/bin/env bash
# Assemble the deployable Cloud Functions source in build/bundle: main.py at the root
# (the four functions-framework targets), functions/, shared/ and requirements.txt, and
# nothing else (no tests, caches, virtualenvs or local data). Terraform zips this
# directory (infra/modules/functions) and tools/check_infra.sh serves it.
set -euo pipefail
cd "$(dirname "$0")/.."

out="build/bundle"
missing=()
for path in main.py functions shared requirements.txt; do
    [[ -e "$path" ]] || missing+=("$path")
done
if ((${#missing[@]})); then
    echo "bundle: missing ${missing[*]} at the repository root; nothing to bundle" >&2
    exit 1
fi

rm -rf "$out"
mkdir -p "$out"
python3 - "$out" <<'PY'
import shutil
import sys
from pathlib import Path

out = Path(sys.argv[1])
ignore = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.pyo", "tests", ".venv", ".venv-*", ".data", ".mypy_cache",
    ".pytest_cache", ".ruff_cache",
)
for name in ("functions", "shared"):
    shutil.copytree(name, out / name, ignore=ignore)
for name in ("main.py", "requirements.txt"):
    shutil.copy2(name, out / name)
PY

count=$(find "$out" -type f | wc -l | tr -d ' ')
echo "bundle: $out ($count files: main.py, requirements.txt, functions/, shared/)"
