#!/usr/bin/env bash
# Offline proof of the infrastructure (`make check-infra`, also run by .ci/run):
#   1. terraform fmt -check        (skipped, visibly, where no terraform binary exists)
#   2. checkov on infra/ and the Dockerfile, zero failed checks
#   3. tests/infra: pytest over the parsed HCL (python-hcl2)
#   4. make bundle, then serve each of the four targets from build/bundle with
#      functions-framework in a clean virtualenv built from requirements.txt alone,
#      one request each.
#   5. the migration image: build the Dockerfile with podman and run it as the Cloud Run
#      job does against Cloud SQL's role shape (tests/integration/test_migration_image.py).
#      podman, runc and mmdebstrap come from the distribution's archive when missing and
#      this runs as root with apt-get; otherwise the step is skipped, visibly.
# Needs only python3 (3.11+) and network access to the package index: the two tool
# virtualenvs (.venv-checkov, .venv-hcl) and the bundle's virtualenv (under build/) are
# created on first use and reused while their requirements file is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
FUNCTIONS=(create query supersede verify)
started=$SECONDS

step() { printf '\n== check-infra: %s\n' "$*"; }

hash_of() { "$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:16])' "$1"; }

# ensure_venv DIR REQUIREMENTS: (re)build DIR when it is missing or was built from a
# different version of REQUIREMENTS.
ensure_venv() {
    local dir="$1" requirements="$2" stamp
    stamp="$dir/.installed-$(hash_of "$requirements")"
    if [[ -f "$stamp" ]]; then
        return 0
    fi
    echo "building $dir from $requirements"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --upgrade pip
    "$dir/bin/python" -m pip install --quiet -r "$requirements"
    touch "$stamp"
}

# --- 1. terraform fmt ----------------------------------------------------------------
step "terraform fmt -check -recursive infra"
if command -v terraform >/dev/null 2>&1; then
    # A TF_CLI_CONFIG_FILE pointing at a missing file makes terraform warn on every
    # run; fmt needs no configuration at all.
    if [[ -z "${TF_CLI_CONFIG_FILE:-}" || ! -f "${TF_CLI_CONFIG_FILE}" ]]; then
        export TF_CLI_CONFIG_FILE=/dev/null
    fi
    terraform fmt -check -recursive -diff infra
    echo "terraform fmt: ok ($(terraform version | head -n 1))"
else
    echo "terraform fmt: SKIPPED - no terraform binary on PATH (the other checks do not need it)"
fi

# --- 2. checkov ------------------------------------------------------------------------
step "checkov (terraform, dockerfile)"
ensure_venv .venv-checkov tools/requirements-infra.txt
# --skip-download: no policy or guideline downloads; the run is fully offline.
.venv-checkov/bin/checkov --framework terraform --skip-download --compact --quiet -d infra
.venv-checkov/bin/checkov --framework dockerfile --skip-download --compact --quiet -f Dockerfile

# --- 3. tests/infra --------------------------------------------------------------------
step "tests/infra (python-hcl2)"
ensure_venv .venv-hcl tools/requirements-hcl.txt
# PLANT_INFRA_TESTS=1 makes a missing hcl2 an error instead of a skip
# (tests/infra/conftest.py). --confcutdir keeps tests/conftest.py, which needs the
# application's dependencies, out of this virtualenv.
PLANT_INFRA_TESTS=1 .venv-hcl/bin/python -m pytest tests/infra \
    --confcutdir=tests/infra -p no:cacheprovider -q

# --- 4. bundle smoke test ----------------------------------------------------------------
step "bundle smoke test (functions-framework from build/bundle)"
bash tools/bundle.sh
smoke_venv="build/smoke-venv"
ensure_venv "$smoke_venv" requirements.txt
smoke_py="$PWD/$smoke_venv/bin/python"
bundle="$PWD/build/bundle"
work="$PWD/build/smoke"
rm -rf "$work"
mkdir -p "$work/data"

# Throwaway keys, so the app's configuration is complete and a request gets an answer
# from the app rather than a configuration error.
"$smoke_py" - "$work" <<'PY'
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

work = Path(sys.argv[1])
(work / "checkpoint.pem").write_bytes(
    ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
)
signing = ed25519.Ed25519PrivateKey.generate()
(work / "signing.pem").write_bytes(
    signing.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
)
jwt_key = ec.generate_private_key(ec.SECP256R1())
(work / "jwt-public.pem").write_bytes(
    jwt_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)
PY

server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

for target in "${FUNCTIONS[@]}"; do
    port=$(free_port)
    log="$work/$target.log"
    # Only the bundle and its virtualenv: a clean environment with the settings a
    # deployed function would have, pointing at nothing that has to exist.
    (
        cd "$bundle"
        exec env -i PATH="$(dirname "$smoke_py"):/usr/bin:/bin" HOME="$work" \
            PYTHONDONTWRITEBYTECODE=1 \
            DATABASE_URL="postgresql+pg8000://smoke@127.0.0.1:9/smoke" \
            SIGNING_KEY_FILE="$work/signing.pem" \
            CHECKPOINT_KEY_FILE="$work/checkpoint.pem" \
            LOG_ORIGIN="registry.smoke.invalid/plant" \
            JWT_PUBLIC_KEY_FILE="$work/jwt-public.pem" \
            JWT_ISSUER="https://issuer.smoke.invalid/" \
            JWT_AUDIENCE="plant-registry-smoke" \
            REGISTRY_DATA_DIR="$work/data" \
            LOG_LEVEL="WARNING" \
            "$smoke_py" -m functions_framework --target "$target" \
            --source "$bundle/main.py" --host 127.0.0.1 --port "$port"
    ) >"$log" 2>&1 &
    server_pid=$!

    if ! "$PYTHON" - "$target" "$port" "$server_pid" <<'PY'; then
import os
import sys
import time
import urllib.error
import urllib.request

target, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
url = f"http://127.0.0.1:{port}/"
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            status = response.status
        break
    except urllib.error.HTTPError as exc:
        status = exc.code
        break
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"{target}: functions-framework exited before serving")
        if time.monotonic() > deadline:
            sys.exit(f"{target}: no answer on port {port} within 60 s")
        time.sleep(0.3)
if status >= 500:
    sys.exit(f"{target}: GET / answered {status}; a deployable function answers below 500")
print(f"{target}: GET / -> {status}")
PY
        echo "--- functions-framework log for $target:" >&2
        cat "$log" >&2
        exit 1
    fi
    cleanup
    server_pid=""
done

# --- 5. migration image -------------------------------------------------------------------
step "migration image (podman build + run as the Cloud Run job)"
image_started=$SECONDS
if ! command -v podman >/dev/null 2>&1 || ! command -v mmdebstrap >/dev/null 2>&1 \
    || ! command -v runc >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        apt_log=$(mktemp)
        if (export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq && apt-get install -y -qq podman runc mmdebstrap) >"$apt_log" 2>&1; then
            echo "installed $(podman --version)"
        else
            tail -n 5 "$apt_log"
            echo "apt-get failed"
        fi
        rm -f "$apt_log"
    fi
fi
if command -v podman >/dev/null 2>&1 && [[ -x .venv/bin/python ]]; then
    PLANT_CONTAINER_TESTS=1 .venv/bin/python -m pytest tests/integration/test_migration_image.py \
        -p no:cacheprovider -q -rs
else
    echo "migration image: SKIPPED - no podman (needs root and apt-get to install it) or no .venv (make venv)"
fi
echo "migration image: $((SECONDS - image_started)) s"

step "ok in $((SECONDS - started)) s"
