#!/usr/bin/env bash
# Side-by-side benchmark of graphsec, a minimal axum + rusqlite baseline, and json-server, all on
# 127.0.0.1. Writes bench/results/latest.md. See README.md, "Benchmarks".
#
#   bench/run.sh            full run (~11 minutes once built)
#   bench/run.sh --quick    smoke run (~2 minutes once built)
#   bench/run.sh --help     every option
#
# With GRAPHSEC_TEST_POSTGRES=postgres://... (or --postgres URL) graphsec also runs on PostgreSQL, in
# a schema of its own (bench_<time>_<pid>) that is dropped at the end.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
LIB=$BENCH_DIR/lib
RESULTS_DIR=$BENCH_DIR/results
OUTPUT=$RESULTS_DIR/latest.md
TENANT=11111111-2222-3333-4444-555555555555
GRAPHSEC_COLLECTION=/beta/security/userSecurityProfiles

MODE=full
PROFILES=10000
DURATION=10
WARMUP=2
THREADS=2
CONNECTIONS=64
IMPORT_COUNT=1000000
IMPORT_TIMEOUT=600
ROUNDS=4
RUN_NORMAL=1
RUN_JSON_SERVER=1
RUN_BASELINE=1
BUILD=1
PG_URL=${GRAPHSEC_TEST_POSTGRES:-}
PG_FROM="GRAPHSEC_TEST_POSTGRES"
ARGS="$*"

usage() {
    cat <<'EOF'
usage: bench/run.sh [options]

  --quick              smoke run: 2,000 profiles, 3 s per scenario, 1 s warm-up, one round,
                       import of 100,000 profiles, no NORMAL-durability runs (~2.5 minutes once built)
  --profiles N         profiles seeded for the latency runs (default 10000)
  --duration S         seconds per measured scenario (default 10)
  --warmup S           seconds of warm-up before each scenario (default 2)
  --rounds R           times GET and PATCH are measured on each server, interleaved (default 4)
  --connections C      wrk connections (default 64); --threads T wrk threads (default 2)
  --import-count N     profiles for the bulk-import step (default 1000000; 0 skips it)
  --no-normal          skip the durability=NORMAL comparison
  --no-json-server     skip the json-server peer
  --no-baseline        skip the axum + rusqlite baseline
  --postgres URL       also run graphsec on this PostgreSQL server (default: $GRAPHSEC_TEST_POSTGRES;
                       unset = skipped), in a fresh schema dropped at the end (~2 more minutes)
  --no-postgres        skip PostgreSQL even if GRAPHSEC_TEST_POSTGRES is set
  --no-build           use the binaries already built
  --output FILE        where to write the Markdown report (default bench/results/latest.md)
EOF
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) MODE=quick; PROFILES=2000; DURATION=3; WARMUP=1; ROUNDS=1; IMPORT_COUNT=100000; RUN_NORMAL=0 ;;
        --profiles) PROFILES=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --import-count) IMPORT_COUNT=$2; shift ;;
        --no-normal) RUN_NORMAL=0 ;;
        --no-json-server) RUN_JSON_SERVER=0 ;;
        --no-baseline) RUN_BASELINE=0 ;;
        --postgres) PG_URL=$2; PG_FROM="--postgres"; shift ;;
        --no-postgres) PG_URL=""; PG_FROM="--no-postgres" ;;
        --no-build) BUILD=0 ;;
        --output) OUTPUT=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# ---------------------------------------------------------------------------------------------
# Process and temp-dir bookkeeping: every server started here is recorded by PID and stopped on
# exit; nothing else is ever signalled.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-bench.XXXXXX")
RESULTS=$WORK/results.jsonl
# wrk's output and the records go next to the report (bench/results/latest-raw.log, latest.jsonl).
RAW_LOG=${OUTPUT%.md}-raw.log
RESULTS_COPY=${OUTPUT%.md}.jsonl
STARTED_PIDS=()
PG_SCHEMA=""     # set once graphsec may have created it; dropped by cleanup()
mkdir -p "$RESULTS_DIR" "$(dirname "$OUTPUT")"
: > "$RAW_LOG"

alive() {
    # A stopped server whose parent (the launcher) already exited may linger as a zombie until
    # init reaps it; count that as gone.
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

stop_pid() {
    local pid=$1 _
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local code=$? pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ -n $PG_SCHEMA ]]; then
        PGOPTIONS=--client-min-messages=warning PGCONNECT_TIMEOUT=10 timeout 120 psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 \
            -c "DROP SCHEMA IF EXISTS \"$PG_SCHEMA\" CASCADE" > /dev/null 2>&1 \
            || echo "run.sh: could not drop PostgreSQL schema $PG_SCHEMA; drop it by hand" >&2
    fi
    if [[ $code -ne 0 ]]; then
        mkdir -p "$RESULTS_DIR/logs"
        cp "$WORK"/*.log "$WORK"/*.jsonl "$RESULTS_DIR/logs/" 2>/dev/null || true
        echo "run.sh: failed (exit $code); server logs copied to $RESULTS_DIR/logs/" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" | tee -a "$RAW_LOG" >&2; }
die() { log "error: $*"; exit 1; }
record() { printf '%s\n' "$1" >> "$RESULTS"; }
metric() { record "{\"kind\":\"metric\",\"server\":\"$1\",\"name\":\"$2\",\"value\":$3}"; }
metric_text() { record "$(python3 -c 'import json,sys; print(json.dumps({"kind":"metric","server":sys.argv[1],"name":sys.argv[2],"value":sys.argv[3]}))' "$1" "$2" "$3")"; }
note() { record "$(python3 -c 'import json,sys; print(json.dumps({"kind":"note","text":sys.argv[1]}))' "$1")"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

status_kb() { # status_kb PID FIELD -> kB from /proc/PID/status
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }
disk_mb() { mb "$(du -sk "$@" | awk '{s += $1} END {print s}')"; } # data on disk, MB

# launch NAME READY_URL CMD... : starts a server, sets LAUNCH_PID and LAUNCH_MS (spawn to first 200).
launch() {
    local name=$1 url=$2
    shift 2
    local pid_file=$WORK/$name.pid
    LAUNCH_MS=$(python3 "$LIB/launch.py" --url "$url" --pid-file "$pid_file" \
        --log "$WORK/$name.log" --timeout 120 -- "$@") || {
        if [[ -s $pid_file ]]; then STARTED_PIDS+=("$(cat "$pid_file")"); fi
        tail -n 20 "$WORK/$name.log" >&2 || true
        die "$name did not start"
    }
    LAUNCH_PID=$(cat "$pid_file")
    STARTED_PIDS+=("$LAUNCH_PID")
    log "$name: pid $LAUNCH_PID, first 200 after $LAUNCH_MS ms"
}

# idle_rss SERVER PID : VmRSS one second after startup, before any load.
idle_rss() {
    sleep 1
    metric "$1" idle_rss_mb "$(mb "$(status_kb "$2" VmRSS)")"
}
peak_rss() {
    local kb
    kb=$(status_kb "$2" VmHWM)
    metric "$1" peak_rss_mb "$(mb "$kb")"
    log "$1: peak RSS $(mb "$kb") MB"
}

# wrk_run SERVER SYNC SCENARIO ROUND PID ORIGIN PATH N [TOKEN] : warm-up, then the measured run.
# The server's VmRSS/VmHWM right after the run are recorded with it, so the report shows which
# workload drives the peak.
wrk_run() {
    local server=$1 sync=$2 scenario=$3 round=$4 pid=$5 origin=$6 path=$7 n=$8 token=${9:-}
    local out=$WORK/wrk-$server-$sync-$scenario-$round.out line rss_kb=0 hwm_kb=0
    local -a env=(BENCH_MODE="$scenario" BENCH_BASE="$path" BENCH_N="$n" BENCH_TOKEN="$token"
        BENCH_TENANT="$TENANT")
    if [[ $WARMUP != 0 ]]; then
        env "${env[@]}" BENCH_NONCE="w$RANDOM$RANDOM" wrk -t"$THREADS" -c"$CONNECTIONS" \
            -d"${WARMUP}s" --timeout 10s -s "$BENCH_DIR/wrk/scenario.lua" "$origin" > /dev/null
    fi
    env "${env[@]}" BENCH_NONCE="m$RANDOM$RANDOM" wrk -t"$THREADS" -c"$CONNECTIONS" \
        -d"${DURATION}s" --timeout 10s -s "$BENCH_DIR/wrk/scenario.lua" "$origin" > "$out"
    { echo "=== $server $sync $scenario round $round ($origin$path)"; cat "$out"; } >> "$RAW_LOG"
    line=$(grep '^BENCH_RESULT ' "$out") || die "wrk printed no result for $server $scenario"
    if alive "$pid"; then
        rss_kb=$(status_kb "$pid" VmRSS)
        hwm_kb=$(status_kb "$pid" VmHWM)
    fi
    record "$(python3 - "$server" "$sync" "$scenario" "$round" "$line" "$rss_kb" "$hwm_kb" <<'PY'
import json, sys
server, sync, scenario, round_, line, rss_kb, hwm_kb = sys.argv[1:8]
r = {"kind": "wrk", "server": server, "sync": sync, "scenario": scenario, "round": int(round_),
     "rss_mb": int(rss_kb) / 1024, "hwm_mb": int(hwm_kb) / 1024}
for item in line.split()[1:]:
    k, v = item.split("=", 1)
    r[k] = float(v) if "." in v else int(v)
print(json.dumps(r))
PY
)"
    log "$server $sync $scenario #$round: ${line#BENCH_RESULT }"
}

# ---------------------------------------------------------------------------------------------
# Tools

need() { command -v "$1" > /dev/null || die "$1 is required ($2)"; }
need cargo "https://rustup.rs"
need python3 "apt-get install python3"
need curl "apt-get install curl"
if ! command -v wrk > /dev/null; then
    log "installing wrk (apt)"
    [[ $(id -u) == 0 ]] || die "wrk is missing: apt-get install wrk (as root)"
    if ! { apt-get update -qq && apt-get install -y -qq wrk; } > "$WORK/apt.log" 2>&1; then
        cat "$WORK/apt.log" >&2
        die "cannot install wrk"
    fi
fi
if [[ $RUN_JSON_SERVER == 1 ]]; then
    if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
        log "node/npm missing: skipping json-server (apt-get install nodejs npm to include it)"
        note "json-server skipped: node/npm not installed."
        RUN_JSON_SERVER=0
    elif [[ ! -f $BENCH_DIR/node_modules/json-server/package.json ]]; then
        log "installing json-server (npm, pinned in bench/package-lock.json)"
        (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error) > "$WORK/npm.log" 2>&1 \
            || { cat "$WORK/npm.log" >&2; die "npm ci failed"; }
    fi
fi

# PostgreSQL: checked before the build so a wrong URL fails fast. psql runs every statement the
# script itself sends (version, settings, size, DROP SCHEMA); graphsec creates and migrates the schema.
pg_sql() { PGOPTIONS=--client-min-messages=warning PGCONNECT_TIMEOUT=10 timeout 120 psql "$PG_URL" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
if [[ -n $PG_URL ]]; then
    need psql "apt-get install postgresql-client"
    # The URL as shown in logs and the report: without a password.
    PG_SHOWN=$(python3 -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u._replace(netloc=(u.username + "@" if u.username else "") + (u.hostname or "") + (":%d" % u.port if u.port else "")).geturl())' "$PG_URL")
    PG_VERSION=$(pg_sql "SHOW server_version" 2>&1) \
        || die "PostgreSQL at $PG_SHOWN (from $PG_FROM) does not answer: $PG_VERSION"
    PG_SYNC_COMMIT=$(pg_sql "SHOW synchronous_commit")
    PG_FSYNC=$(pg_sql "SHOW fsync")
    PG_SCHEMA_NAME=bench_$(date +%Y%m%d%H%M%S)_$$
    log "PostgreSQL $PG_VERSION (from $PG_FROM): graphsec runs a second time there, schema $PG_SCHEMA_NAME"
else
    log "PostgreSQL skipped: set GRAPHSEC_TEST_POSTGRES (e.g. postgres://postgres@127.0.0.1:5432/test) or pass --postgres URL to include it"
fi

if [[ $BUILD == 1 ]]; then
    log "building graphsec (dist profile)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target" cargo build --profile dist -q -p graphsec) \
        || die "cargo build --profile dist -p graphsec failed"
    if [[ $RUN_BASELINE == 1 ]]; then
        log "building the baseline (release)"
        (cd "$BENCH_DIR/baseline" && CARGO_TARGET_DIR="$BENCH_DIR/baseline/target" \
            cargo build --release -q) || die "building bench/baseline failed"
    fi
fi
GRAPHSEC=$ROOT/target/dist/graphsec
BASELINE=$BENCH_DIR/baseline/target/release/bench-baseline
[[ -x $GRAPHSEC ]] || die "$GRAPHSEC missing (run without --no-build)"
[[ $RUN_BASELINE == 0 || -x $BASELINE ]] || die "$BASELINE missing (run without --no-build)"

# ---------------------------------------------------------------------------------------------
# Run description

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=false
if [[ -n $(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then DIRTY=true; fi
JS_VERSION=$(node -p 'require(process.argv[1]).version' "$BENCH_DIR/node_modules/json-server/package.json" 2>/dev/null || echo n/a)
record "$(python3 - <<PY
import json, os, platform, time
mem = "%.0f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
print(json.dumps({"kind": "meta", "date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": "$COMMIT",
    "dirty": $([[ $DIRTY == true ]] && echo True || echo False), "args": "$ARGS", "mode": "$MODE",
    "cpus": os.cpu_count(), "mem": mem, "kernel": "Linux " + platform.release(),
    "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
    "threads": $THREADS, "connections": $CONNECTIONS, "duration": $DURATION, "warmup": $WARMUP,
    "rounds": $ROUNDS,
    "profiles": $PROFILES, "json_server_version": "$JS_VERSION",
    "node_version": "$(node --version 2>/dev/null || echo n/a)"}))
PY
)"
if [[ -n $PG_URL ]]; then
    record "$(python3 - "$PG_SHOWN" "$PG_VERSION" "$PG_SYNC_COMMIT" "$PG_FSYNC" "$PG_SCHEMA_NAME" <<'PY'
import json, sys
shown, version, sync_commit, fsync, schema = sys.argv[1:6]
print(json.dumps({"kind": "meta", "pg_url": shown, "pg_version": version.split()[0],
    "pg_synchronous_commit": sync_commit, "pg_fsync": fsync, "pg_schema": schema}))
PY
)"
elif [[ $PG_FROM == --no-postgres ]]; then
    note "PostgreSQL skipped (\`--no-postgres\`)."
else
    note "PostgreSQL skipped: neither \`GRAPHSEC_TEST_POSTGRES\` nor \`--postgres URL\` was given."
fi
log "mode $MODE: $PROFILES profiles, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (+${WARMUP}s warm-up), import $IMPORT_COUNT"

if [[ $PROFILES -lt 10000 ]]; then
    note "json-server finds a profile by a linear search, so with $PROFILES profiles (fewer than the default 10,000) its GET is faster and the graphsec / json-server ratios are lower than in a full run."
fi
log "generating $PROFILES profiles"
python3 "$LIB/gen_profiles.py" --count "$PROFILES" --tenant "$TENANT" \
    --ndjson "$WORK/profiles.ndjson" --json-server "$WORK/db.json"
record "{\"kind\":\"meta\",\"row_bytes\":$(head -n1 "$WORK/profiles.ndjson" | wc -c)}"

# ---------------------------------------------------------------------------------------------
# Start the three servers on the same profiles. They run side by side (an idle server costs
# nothing) so every workload can be run on each of them back to back, round after round: the
# ratios then come from measurements minutes apart at most, on a machine whose background load
# changes.

GS_DATA=$WORK/graphsec-data
GS_PORT=$(free_port)
GS_URL=http://127.0.0.1:$GS_PORT
# graphsec throttles each tenant (429 past --rate-limit, 1000/s by default with local auth): a
# throughput benchmark of one tenant has to turn that off.
GS_EXTRA=()
if "$GRAPHSEC" serve --help 2>/dev/null | grep -q -- '--rate-limit '; then
    GS_EXTRA+=(--rate-limit 0)
    note "graphsec was started with \`--rate-limit 0\`: its per-tenant throttle (1000 requests/s by default with local auth) would otherwise answer most of the load with 429."
fi
# graphsec runs as users start it: default flags (info logging, a line per request, to stderr,
# which launch sends to a file), but the throttle and the data directory.
gs_serve() { # gs_serve DURABILITY DATA_DIR
    launch "graphsec-$1" "$GS_URL/healthz" "$GRAPHSEC" serve --listen "127.0.0.1:$GS_PORT" \
        --data-dir "$2" --durability "$1" "${GS_EXTRA[@]}"
}

gs_serve full "$GS_DATA"
TOKEN=$("$GRAPHSEC" token --data-dir "$GS_DATA" --tenant "$TENANT" --ttl 6h)
metric graphsec startup_empty_ms "$LAUNCH_MS"
log "seeding graphsec with $PROFILES profiles over HTTP"
read -r SEEDED SEED_SECONDS < <(python3 "$LIB/seed_http.py" --url "$GS_URL$GRAPHSEC_COLLECTION" \
    --file "$WORK/profiles.ndjson" --token "$TOKEN") || die "seeding graphsec failed"
[[ $SEEDED == "$PROFILES" ]] || die "seeded $SEEDED of $PROFILES profiles"
metric graphsec seed_http_rate "$(awk -v n="$SEEDED" -v s="$SEED_SECONDS" 'BEGIN {printf "%.0f", n / s}')"
stop_pid "$LAUNCH_PID"
gs_serve full "$GS_DATA"
GS_PID=$LAUNCH_PID
metric graphsec startup_ms "$LAUNCH_MS"
idle_rss graphsec "$GS_PID"
GET_STATUS=$(curl -s -o "$WORK/get.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$GS_URL$GRAPHSEC_COLLECTION/u0000000")
[[ $GET_STATUS == 200 ]] || die "graphsec GET by id answered $GET_STATUS: $(head -c 300 "$WORK/get.json")"

PAGE_BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" "$GS_URL$GRAPHSEC_COLLECTION?%24top=100" | wc -c)
PAGE_GZIP_BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" -H "Accept-Encoding: gzip" \
    "$GS_URL$GRAPHSEC_COLLECTION?%24top=100" | wc -c)
record "{\"kind\":\"meta\",\"page_bytes\":$PAGE_BYTES,\"page_gzip_bytes\":$PAGE_GZIP_BYTES}"

# The same binary and data with --log-level warn: what the request lines cost.
GSW_DATA=$WORK/graphsec-warn-data
stop_pid "$GS_PID"
cp -a "$GS_DATA" "$GSW_DATA"
gs_serve full "$GS_DATA"
GS_PID=$LAUNCH_PID
GSW_PORT=$(free_port)
GSW_URL=http://127.0.0.1:$GSW_PORT
launch graphsec-warn "$GSW_URL/healthz" "$GRAPHSEC" serve --listen "127.0.0.1:$GSW_PORT" \
    --data-dir "$GSW_DATA" --log-level warn "${GS_EXTRA[@]}"
GSW_PID=$LAUNCH_PID
record "{\"kind\":\"meta\",\"graphsec_get_bytes\":$(wc -c < "$WORK/get.json")}"

if [[ $RUN_BASELINE == 1 ]]; then
    BL_DB=$WORK/baseline.sqlite3
    BL_PORT=$(free_port)
    BL_URL=http://127.0.0.1:$BL_PORT
    bl_serve() { # bl_serve SYNCHRONOUS DB
        launch "baseline-$1" "$BL_URL/healthz" "$BASELINE" serve --db "$2" \
            --listen "127.0.0.1:$BL_PORT" --synchronous "$1"
    }
    bl_serve full "$WORK/baseline-empty.sqlite3"
    metric baseline startup_empty_ms "$LAUNCH_MS"
    stop_pid "$LAUNCH_PID"
    "$BASELINE" seed --db "$BL_DB" "$WORK/profiles.ndjson" > /dev/null
    bl_serve full "$BL_DB"
    BL_PID=$LAUNCH_PID
    metric baseline startup_ms "$LAUNCH_MS"
    idle_rss baseline "$BL_PID"
fi

if [[ $RUN_JSON_SERVER == 1 ]]; then
    JS_PORT=$(free_port)
    JS_URL=http://127.0.0.1:$JS_PORT
    JS_BIN=$BENCH_DIR/node_modules/json-server/lib/cli/bin.js
    js_serve() { # js_serve NAME DB_JSON
        launch "$1" "$JS_URL/profiles/u0000000" node "$JS_BIN" --quiet --host 127.0.0.1 \
            --port "$JS_PORT" "$2"
    }
    echo '{"profiles":[{"id":"u0000000"}]}' > "$WORK/db-empty.json"
    js_serve json-server-empty "$WORK/db-empty.json"
    metric json-server startup_empty_ms "$LAUNCH_MS"
    stop_pid "$LAUNCH_PID"
    js_serve json-server "$WORK/db.json"
    JS_PID=$LAUNCH_PID
    metric json-server startup_ms "$LAUNCH_MS"
    idle_rss json-server "$JS_PID"
fi

if [[ -n $PG_URL ]]; then
    # graphsec a second time, on PostgreSQL: a fresh schema that serve creates and migrates (the
    # empty-data startup includes that), then the same profiles loaded with `graphsec import`
    # (HTTP seeding would add a minute and measure the Python client), then the seeded start.
    # The data directory only holds a copy of the signing key, so the same token works.
    PG_DATA=$WORK/graphsec-pg-data
    mkdir -p "$PG_DATA"
    cp "$GS_DATA/signing-key" "$PG_DATA/signing-key"
    PG_PORT=$(free_port)
    PG_GS_URL=http://127.0.0.1:$PG_PORT
    pg_serve() { # pg_serve NAME
        launch "$1" "$PG_GS_URL/healthz" "$GRAPHSEC" serve --listen "127.0.0.1:$PG_PORT" \
            --data-dir "$PG_DATA" --database-url "$PG_URL" --database-schema "$PG_SCHEMA_NAME" \
            --log-level warn "${GS_EXTRA[@]}"
    }
    PG_SCHEMA=$PG_SCHEMA_NAME
    pg_serve graphsec-pg-empty
    metric graphsec-pg startup_empty_ms "$LAUNCH_MS"
    stop_pid "$LAUNCH_PID"
    log "seeding graphsec on PostgreSQL with $PROFILES profiles (graphsec import)"
    read -r PG_SEED_SECONDS PG_SEED_RSS_KB PG_SEED_CODE < <(python3 "$LIB/timed.py" \
        --out "$WORK/pg-import.log" --timeout "$IMPORT_TIMEOUT" -- "$GRAPHSEC" import \
        --data-dir "$PG_DATA" --database-url "$PG_URL" --database-schema "$PG_SCHEMA_NAME" \
        --tenant "$TENANT" "$WORK/profiles.ndjson")
    cat "$WORK/pg-import.log" >> "$RAW_LOG"
    [[ $PG_SEED_CODE == 0 ]] || die "graphsec import into PostgreSQL failed (exit $PG_SEED_CODE): $(tail -c 300 "$WORK/pg-import.log")"
    PG_ROWS=$(pg_sql "SELECT count(*) FROM \"$PG_SCHEMA_NAME\".profiles")
    [[ $PG_ROWS == "$PROFILES" ]] || die "PostgreSQL schema holds $PG_ROWS of $PROFILES profiles after the import"
    metric graphsec-pg seed_import_seconds "$PG_SEED_SECONDS"
    metric graphsec-pg seed_import_rate "$(awk -v n="$PROFILES" -v s="$PG_SEED_SECONDS" 'BEGIN {printf "%.0f", n / s}')"
    metric graphsec-pg seed_import_peak_rss_mb "$(mb "$PG_SEED_RSS_KB")"
    log "graphsec on PostgreSQL: imported $PROFILES profiles in $PG_SEED_SECONDS s"
    pg_serve graphsec-pg
    PGS_PID=$LAUNCH_PID
    metric graphsec-pg startup_ms "$LAUNCH_MS"
    idle_rss graphsec-pg "$PGS_PID"
    GET_STATUS=$(curl -s -o "$WORK/get-pg.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$PG_GS_URL$GRAPHSEC_COLLECTION/u0000000")
    [[ $GET_STATUS == 200 ]] || die "graphsec on PostgreSQL: GET by id answered $GET_STATUS: $(head -c 300 "$WORK/get-pg.json")"
    record "{\"kind\":\"meta\",\"graphsec_pg_get_bytes\":$(wc -c < "$WORK/get-pg.json")}"
fi

# ---------------------------------------------------------------------------------------------
# Durability FULL (graphsec's default; the baseline at synchronous=FULL): GET by id and PATCH on
# each server in turn, ROUNDS times; then graphsec's POST, and its $filter list last (it can
# leave slow requests running after wrk stops).

# The two graphsec copies see the same history (PATCHes grow the write-ahead log a later GET
# reads past), and take turns at going first: the first run of a round can meet the previous
# round's writes still being flushed by another server.
gs_default() { wrk_run graphsec full "$1" "$2" "$GS_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"; }
gs_warn() { wrk_run graphsec-warn full "$1" "$2" "$GSW_PID" "$GSW_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"; }
for round in $(seq 1 "$ROUNDS"); do
    for scenario in get patch; do
        if (( round % 2 )); then
            gs_default "$scenario" "$round"; gs_warn "$scenario" "$round"
        else
            gs_warn "$scenario" "$round"; gs_default "$scenario" "$round"
        fi
        if [[ -n $PG_URL ]]; then wrk_run graphsec-pg pg "$scenario" "$round" "$PGS_PID" "$PG_GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"; fi
        if [[ $RUN_BASELINE == 1 ]]; then wrk_run baseline full "$scenario" "$round" "$BL_PID" "$BL_URL" /rows "$PROFILES"; fi
        if [[ $RUN_JSON_SERVER == 1 ]]; then wrk_run json-server - "$scenario" "$round" "$JS_PID" "$JS_URL" /profiles "$PROFILES"; fi
    done
done
if [[ $RUN_JSON_SERVER == 1 ]]; then
    peak_rss json-server "$JS_PID"
    stop_pid "$JS_PID"
    metric json-server disk_mb "$(disk_mb "$WORK/db.json")"
fi
if [[ $RUN_BASELINE == 1 ]]; then
    peak_rss baseline "$BL_PID"
    stop_pid "$BL_PID"
    metric baseline disk_mb "$(disk_mb "$BL_DB"*)"
fi
peak_rss graphsec-warn "$GSW_PID"
stop_pid "$GSW_PID"
# A page of 100 profiles as it is sent to a client that accepts gzip, and to one that does not.
for round in $(seq 1 "$ROUNDS"); do
    for scenario in page page-gzip; do
        wrk_run graphsec full "$scenario" "$round" "$GS_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"
    done
done
for scenario in post list; do
    wrk_run graphsec full "$scenario" 1 "$GS_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"
    if [[ -n $PG_URL ]]; then wrk_run graphsec-pg pg "$scenario" 1 "$PGS_PID" "$PG_GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"; fi
done
peak_rss graphsec "$GS_PID"
stop_pid "$GS_PID"
metric graphsec disk_mb "$(disk_mb "$GS_DATA")"
if [[ -n $PG_URL ]]; then
    peak_rss graphsec-pg "$PGS_PID"
    stop_pid "$PGS_PID"
    # Tables, indexes and TOAST of the schema, after the runs (as for SQLite: with the POSTed rows).
    metric graphsec-pg disk_mb "$(mb "$(pg_sql "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) / 1024
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = '$PG_SCHEMA_NAME' AND c.relkind IN ('r', 'm')")")"
    pg_sql "DROP SCHEMA \"$PG_SCHEMA_NAME\" CASCADE" > /dev/null
    PG_SCHEMA=""
    log "graphsec on PostgreSQL: dropped schema $PG_SCHEMA_NAME"
fi

# ---------------------------------------------------------------------------------------------
# Durability NORMAL on both sides, same data: PATCH (and graphsec's POST).

if [[ $RUN_NORMAL == 1 ]]; then
    gs_serve normal "$GS_DATA"
    GS_PID=$LAUNCH_PID
    if [[ $RUN_BASELINE == 1 ]]; then
        bl_serve normal "$BL_DB"
        BL_PID=$LAUNCH_PID
    fi
    for round in $(seq 1 "$ROUNDS"); do
        wrk_run graphsec normal patch "$round" "$GS_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"
        if [[ $RUN_BASELINE == 1 ]]; then wrk_run baseline normal patch "$round" "$BL_PID" "$BL_URL" /rows "$PROFILES"; fi
    done
    wrk_run graphsec normal post 1 "$GS_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" "$PROFILES" "$TOKEN"
    stop_pid "$GS_PID"
    if [[ $RUN_BASELINE == 1 ]]; then stop_pid "$BL_PID"; fi
fi

# ---------------------------------------------------------------------------------------------
# Bulk import of IMPORT_COUNT profiles, then graphsec under load on that data

if [[ $IMPORT_COUNT -gt 0 ]]; then
    # The NDJSON file (~0.9 KB a line) plus graphsec's database (~5.5 KB a profile when measured).
    NEED_KB=$(( IMPORT_COUNT * 7 ))
    FREE_KB=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
    if ! "$GRAPHSEC" import --help > /dev/null 2>&1; then
        log "import: not available (graphsec import --help fails)"
        metric_text import status "not available (\`graphsec import --help\` fails in this build)"
    elif [[ $FREE_KB -lt $NEED_KB ]]; then
        log "import: skipped, $(( FREE_KB / 1024 )) MB free in $WORK, about $(( NEED_KB / 1024 )) MB needed"
        metric_text import status "skipped: $(( FREE_KB / 1024 )) MB free in ${TMPDIR:-/tmp}, about $(( NEED_KB / 1024 )) MB needed"
    else
        IMP_DATA=$WORK/graphsec-import
        log "generating $IMPORT_COUNT profiles for the import"
        python3 "$LIB/gen_profiles.py" --count "$IMPORT_COUNT" --tenant "$TENANT" \
            --ndjson "$WORK/import.ndjson"
        metric import file_mb "$(mb $(( $(stat -c %s "$WORK/import.ndjson") / 1024 )))"
        log "importing $IMPORT_COUNT profiles"
        "$GRAPHSEC" migrate --data-dir "$IMP_DATA" >> "$RAW_LOG" 2>&1 || die "graphsec migrate failed"
        read -r IMP_SECONDS IMP_RSS_KB IMP_CODE < <(python3 "$LIB/timed.py" --out "$WORK/import.log" \
            --timeout "$IMPORT_TIMEOUT" -- "$GRAPHSEC" import --data-dir "$IMP_DATA" \
            --tenant "$TENANT" "$WORK/import.ndjson")
        IMP_OUTPUT=$(tail -c 300 "$WORK/import.log" | tr '\n' ' ' | sed 's/ *$//')
        cat "$WORK/import.log" >> "$RAW_LOG"
        metric_text import output "$IMP_OUTPUT"
        if [[ $IMP_CODE != 0 ]]; then
            log "import failed (exit $IMP_CODE after $IMP_SECONDS s): $IMP_OUTPUT"
            metric_text import status "failed (exit $IMP_CODE after $IMP_SECONDS s)"
        else
            # The count graphsec printed; the number of lines if it printed none.
            IMPORTED=$(grep -oiE '(imported[^0-9]*[0-9][0-9,_]*|[0-9][0-9,_]* profiles? imported)' "$WORK/import.log" \
                | grep -oE '[0-9][0-9,_]*' | tr -d ',_' | tail -n1 || true)
            IMPORTED=${IMPORTED:-$IMPORT_COUNT}
            metric_text import status ok
            metric import count "$IMPORTED"
            metric import seconds "$IMP_SECONDS"
            metric import rate "$(awk -v n="$IMPORTED" -v s="$IMP_SECONDS" 'BEGIN {printf "%.0f", n / s}')"
            metric import peak_rss_mb "$(mb "$IMP_RSS_KB")"
            OWN_RATE=$(grep -oE '\(([0-9.]+) profiles/s\)' "$WORK/import.log" | grep -oE '[0-9.]+' | head -n1 || true)
            if [[ -n $OWN_RATE ]]; then metric import own_rate "$OWN_RATE"; fi
            log "import: $IMPORTED profiles in $IMP_SECONDS s, peak RSS $(mb "$IMP_RSS_KB") MB, $(disk_mb "$IMP_DATA") MB on disk"
            [[ $IMPORTED == "$IMPORT_COUNT" ]] || note "graphsec import reported $IMPORTED of $IMPORT_COUNT lines."
            rm -f "$WORK/import.ndjson"

            gs_serve full "$IMP_DATA"
            BIG_PID=$LAUNCH_PID
            TOKEN_1M=$("$GRAPHSEC" token --data-dir "$IMP_DATA" --tenant "$TENANT" --ttl 6h)
            metric graphsec+import startup_ms "$LAUNCH_MS"
            idle_rss graphsec+import "$BIG_PID"
            for scenario in get patch list; do
                wrk_run graphsec+import full "$scenario" 1 "$BIG_PID" "$GS_URL" "$GRAPHSEC_COLLECTION" \
                    "$IMPORTED" "$TOKEN_1M"
            done
            peak_rss graphsec+import "$BIG_PID"
            stop_pid "$BIG_PID"
            metric graphsec+import disk_mb "$(disk_mb "$IMP_DATA")"
        fi
    fi
else
    metric_text import status "skipped (--import-count 0)"
fi

# ---------------------------------------------------------------------------------------------

cp "$RESULTS" "$RESULTS_COPY"
python3 "$LIB/report.py" "$RESULTS" > "$OUTPUT.tmp"
mv "$OUTPUT.tmp" "$OUTPUT"
log "wrote ${OUTPUT#"$ROOT"/}"
cat "$OUTPUT"
