#!/usr/bin/env bash
# OData query latency over COUNT profiles (default 1,000,000), on SQLite and, when
# GRAPHSEC_TEST_POSTGRES is set, on PostgreSQL in a schema of its own (dropped at the end).
# Writes the tables to bench/results/odata-<COUNT>.md (1,000,000 -> odata-1m.md).
#
# Usage: bench/odata/run.sh [COUNT]
#   SAMPLES=200 PAGES=500       requests per row, pages of the deep walk
#   BENCH_WORK=DIR              keep the generated profiles and the SQLite data directory in DIR
#                               and reuse them on the next run (a 1M import takes minutes)
#   BACKENDS="sqlite postgres"  which backends to run
#   BENCH_OUT=FILE              where to write the tables
# Loopback only; stops the servers it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${1:-1000000}"
BIN="${GRAPHSEC_BIN:-target/release/graphsec}"
[ -x "$BIN" ] || cargo build --release -p graphsec
BACKENDS="${BACKENDS:-sqlite postgres}"
case "$COUNT" in 1000000) LABEL=1m ;; *) LABEL="$COUNT" ;; esac
OUT="${BENCH_OUT:-bench/results/odata-$LABEL.md}"
KEEP="${BENCH_WORK:-}"
WORK="${KEEP:-$(mktemp -d)}"
mkdir -p "$WORK"
PIDS=()
SCHEMA=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "$SCHEMA" ]; then psql "$GRAPHSEC_TEST_POSTGRES" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -s "$WORK/profiles-$COUNT.jsonl" ]; then
  echo "generating $COUNT profiles" >&2
  python3 bench/odata/generate.py "$COUNT" > "$WORK/profiles-$COUNT.jsonl.part"
  mv "$WORK/profiles-$COUNT.jsonl.part" "$WORK/profiles-$COUNT.jsonl"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # data dir, storage args...: starts a server, sets PORT
  local data="$1"; shift
  PORT=$(free_port)
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$data" "$@" --log-level warn --rate-limit 0 &
  PIDS+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "the server did not become ready" >&2; exit 1
}

stop() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }

# warm NAME DATA_DIR: reads the backend's files into the OS page cache, as they are on a server
# that has been answering queries. Otherwise what is measured depends on what the kernel evicted
# while the other backend ran (this machine reclaims idle page cache within minutes).
warm() {
  case "$1" in
    sqlite) cat "$2"/graphsec.sqlite3* > /dev/null ;;
    postgres)
      # The CHECKPOINT first: the writes the import and VACUUM left to the checkpointer would
      # otherwise compete with the queries for the disk. pg_prewarm's 'read' mode reads each
      # relation into the OS cache, not into shared_buffers.
      psql "$GRAPHSEC_TEST_POSTGRES" -qAt -c "CHECKPOINT" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA $PGSCHEMA" \
        -c "SELECT sum($PGSCHEMA.pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = '$PGSCHEMA' AND c.relkind IN ('r', 'i')" > /dev/null ;;
  esac
}

run() { # name, storage args...
  local name="$1"; shift
  local data="$WORK/data-$name-$COUNT"
  if [ ! -e "$data/imported" ]; then
    # `import` loads into a data directory a server made (it holds the signing key): start one
    # once to create it (and migrate), stop it, then import.
    start "$data" "$@"; stop
    echo "importing $COUNT profiles ($name)" >&2
    "$BIN" import --data-dir "$data" "$@" --tenant bench-tenant "$WORK/profiles-$COUNT.jsonl" >&2
    if [ "$name" = postgres ]; then
      # What autovacuum does soon after a bulk load (the visibility map lets index-only scans
      # skip the heap); done here so a server with autovacuum off measures the same state.
      psql "$GRAPHSEC_TEST_POSTGRES" -q -c "VACUUM (ANALYZE) $PGSCHEMA.profiles" -c "VACUUM (ANALYZE) $PGSCHEMA.profile_tags" >&2
    fi
    touch "$data/imported"
  fi
  # pg_prewarm needs a role allowed to create the extension: without it, say so and go on.
  local warm_note=""
  if ! warm "$name" "$data"; then
    echo "could not read $name's files into the page cache first: measuring it as it is" >&2
    warm_note="Not read into the page cache first (see the run's stderr)."
  fi
  start "$data" "$@"
  local token; token=$("$BIN" token --data-dir "$data" --tenant bench-tenant --scopes SecurityEvents.Read.All)
  {
    echo; echo "## $name"; echo
    if [ -n "$warm_note" ]; then echo "$warm_note"; echo; fi
    python3 bench/odata/latency.py "http://127.0.0.1:$PORT" "$token" "$COUNT" "${SAMPLES:-200}" "${PAGES:-500}"
  } >> "$OUT.part"
  stop
}

{
  echo "# OData query latency over $(printf "%'d" "$COUNT") profiles"
  echo
  echo "\`bench/odata/run.sh $COUNT\`, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)."
  echo "One client, sequential requests over keep-alive; $(nproc) cores; $(uname -sr)."
  echo "Data from bench/odata/generate.py: each indexed member holds values shared by 1 in 10"
  echo "and by 1 in 100,000 profiles (the share is in brackets). 'indexed' rows are the filters"
  echo "the README calls indexed. Each backend's files are read into the OS page cache before"
  echo "its rows are measured (a server that has been answering queries has them there)."
} > "$OUT.part"
for backend in $BACKENDS; do
  case "$backend" in
    sqlite) run sqlite ;;
    postgres)
      if [ -z "${GRAPHSEC_TEST_POSTGRES:-}" ]; then echo "GRAPHSEC_TEST_POSTGRES is not set: skipping PostgreSQL" >&2; continue; fi
      # A kept data directory remembers its schema, so a rerun reuses the imported rows.
      pgdata="$WORK/data-postgres-$COUNT"
      if [ -n "$KEEP" ] && [ -s "$pgdata/bench-schema" ]; then
        SCHEMA_KEPT=$(cat "$pgdata/bench-schema")
      else
        SCHEMA_KEPT="bench_odata_$(date +%s)"; mkdir -p "$pgdata"; echo "$SCHEMA_KEPT" > "$pgdata/bench-schema"
      fi
      # Without BENCH_WORK the schema is dropped at exit; with it, drop it yourself when done:
      # psql "$GRAPHSEC_TEST_POSTGRES" -c "DROP SCHEMA <name in DIR/data-postgres-COUNT/bench-schema> CASCADE"
      [ -n "$KEEP" ] || SCHEMA="$SCHEMA_KEPT"
      PGSCHEMA="$SCHEMA_KEPT"
      run postgres --database-url "$GRAPHSEC_TEST_POSTGRES" --database-schema "$SCHEMA_KEPT" ;;
  esac
done
mv "$OUT.part" "$OUT"
echo "wrote $OUT" >&2
