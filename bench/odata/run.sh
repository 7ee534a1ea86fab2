#!/usr/bin/env bash
# OData query latency over 1,000,000 profiles (issue: "OData query options, executed in the database").
# Usage: bench/odata/run.sh [COUNT] ; set GRAPHSEC_TEST_POSTGRES to also run on PostgreSQL.
# Loopback only; stops the servers it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${1:-1000000}"
BIN="${GRAPHSEC_BIN:-target/release/graphsec}"
[ -x "$BIN" ] || cargo build --release -p graphsec
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "generating $COUNT profiles"
python3 bench/odata/generate.py "$COUNT" > "$WORK/profiles.jsonl"

run() { # name, extra storage args...
  local name="$1"; shift
  local data="$WORK/data-$name"
  echo; echo "## $name"
  "$BIN" import --data-dir "$data" "$@" --tenant bench-tenant "$WORK/profiles.jsonl"
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" "$@" --log-level warn --rate-limit 0 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local token; token=$("$BIN" token --data-dir "$data" --tenant bench-tenant --scopes SecurityEvents.Read.All)
  python3 bench/odata/latency.py "http://127.0.0.1:$port" "$token" "$COUNT" "${SAMPLES:-500}" "${PAGES:-2000}"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

run sqlite
if [ -n "${GRAPHSEC_TEST_POSTGRES:-}" ]; then
  schema="bench_$(date +%s)"
  run postgres --database-url "$GRAPHSEC_TEST_POSTGRES" --database-schema "$schema"
  psql "$GRAPHSEC_TEST_POSTGRES" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
fi
