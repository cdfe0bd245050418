#!/usr/bin/env bash
# make fuzz: property-based API testing with schemathesis against a real local server.
#
# Starts the dev server (embedded PostgreSQL under a throwaway data directory) on a free
# loopback port, runs schemathesis from docs/openapi.json with a dev token holding every
# scope and every check (`--checks all`: server errors, statuses, content types, response
# schemas and headers, schema-valid requests refused, schema-invalid ones accepted,
# undeclared methods, and the stateful phase), and stops everything. The few outcomes a
# schema cannot predict (they depend on what is stored) are allowed, each where it
# occurs and with its reason, in tools/schemathesis.toml. FUZZ_SECONDS bounds the run
# (default 120).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-120}"
data_dir="$(mktemp -d)"
log="$data_dir/devserver.log"
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

PORT="$port" REGISTRY_DATA_DIR="$data_dir" .venv/bin/python -m tools.devserver >"$log" 2>&1 &
server=$!
cleanup() {
    kill -INT "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$data_dir"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
    if grep -q "export TOKEN=" "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.5
done
token="$(sed -n 's/.*export TOKEN=//p' "$log")"
[ -n "$token" ] || { cat "$log"; echo "the dev server did not start" >&2; exit 1; }

# One worker: schemathesis's workers are threads, and the venv's CPython 3.11.7 can fail
# ast.parse run from two threads at once ("AST constructor recursion depth mismatch",
# CPython issue gh-106905), which hypothesis does to describe its lambdas: one 2-worker
# run in three stopped on it.
.venv/bin/schemathesis --config-file tools/schemathesis.toml run \
    "http://127.0.0.1:$port/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks all \
    --max-time "$seconds" --workers 1
