#!/usr/bin/env bash
# make fuzz: property-based API testing with schemathesis against a real local server.
#
# Starts the dev server (embedded PostgreSQL under a throwaway data directory) on a free
# loopback port, runs schemathesis from docs/openapi.json with a dev token holding every
# scope, and stops everything. Any 5xx, undocumented status or content type, or response
# that breaks its schema fails the run. FUZZ_SECONDS bounds it (default 120).
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

.venv/bin/schemathesis run "http://127.0.0.1:$port/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-time "$seconds" --workers 2
