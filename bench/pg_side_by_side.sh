#!/usr/bin/env bash
# graphsec on PostgreSQL side by side with pgbench running the bare statements on the same tables
# (one schema, the same 10,000 profiles): GET by id vs SELECT by key, PATCH vs a single-row
# UPDATE, POST vs a single-row INSERT, an indexed $filter list vs the same SELECT. Then one
# graphsec instance against two sharing the load, with the CPU each request costs in graphsec and
# in its PostgreSQL backends. Rounds are interleaved; the report takes medians. Writes
# bench/results/postgres.md. The server's settings are recorded, never changed.
#
#   bench/pg_side_by_side.sh [--postgres URL] [--rounds 3] [--duration 10] [--no-build]
#                            [--pool-size 16] [--modes "get patch post list"] [--output FILE]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
LIB=$BENCH_DIR/lib
OUTPUT=$BENCH_DIR/results/postgres.md
TENANT=11111111-2222-3333-4444-555555555555
COLLECTION=/beta/security/userSecurityProfiles
PG_URL=${GRAPHSEC_TEST_POSTGRES:-}
PROFILES=10000
DURATION=10
WARMUP=2
ROUNDS=3
CONNECTIONS=64
THREADS=2
CLIENTS=16
BUILD=1
PROFILE=dist
POOL_SIZE=16
MODES="get patch post list"

while [[ $# -gt 0 ]]; do
    case $1 in
        --postgres) PG_URL=$2; shift ;;
        --profiles) PROFILES=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --profile) PROFILE=$2; shift ;;
        --pool-size) POOL_SIZE=$2; shift ;;
        --modes) MODES=$2; shift ;;
        --no-build) BUILD=0 ;;
        --output) OUTPUT=$2; shift ;;
        -h|--help) sed -n 2,9p "$0"; exit 0 ;;
        *) echo "pg_side_by_side.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -n $PG_URL ]] || { echo "pg_side_by_side.sh: --postgres URL or GRAPHSEC_TEST_POSTGRES is needed" >&2; exit 2; }
for tool in wrk pgbench psql python3; do
    command -v "$tool" > /dev/null || { echo "pg_side_by_side.sh: $tool is missing" >&2; exit 2; }
done

WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
SCHEMA=bench_pg_$(date +%Y%m%d%H%M%S)_$$
STARTED_PIDS=()
SCHEMA_MADE=0

pg_sql() { PGOPTIONS=--client-min-messages=warning timeout 120 psql "$PG_URL" -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
record() { printf '%s\n' "$1" >> "$RESULTS"; }

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2> /dev/null || true
    done
    sleep 1
    if [[ $SCHEMA_MADE == 1 ]]; then
        pg_sql "DROP SCHEMA IF EXISTS \"$SCHEMA\" CASCADE" > /dev/null 2>&1 || log "could not drop schema $SCHEMA"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BUILD == 1 ]]; then
    log "building graphsec ($PROFILE profile)"
    (cd "$ROOT" && cargo build --profile "$PROFILE" -q -p graphsec)
fi
GRAPHSEC=$ROOT/target/$PROFILE/graphsec
[[ -x $GRAPHSEC ]] || { echo "pg_side_by_side.sh: $GRAPHSEC is not built" >&2; exit 1; }

# What the machine is doing besides: the busiest processes before the run.
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | awk '{printf "%s%s %s%%", (NR > 1 ? ", " : ""), $2, $1}')
record "$(python3 -c 'import json, sys; print(json.dumps({"kind": "meta", "pg_version": sys.argv[1], "synchronous_commit": sys.argv[2], "shared_buffers": sys.argv[3], "fsync": sys.argv[4], "cores": int(sys.argv[5]), "loadavg": sys.argv[6], "busy_before": sys.argv[7], "profiles": int(sys.argv[8]), "duration": int(sys.argv[9]), "rounds": int(sys.argv[10]), "connections": int(sys.argv[11]), "clients": int(sys.argv[12]), "commit": sys.argv[13], "build": sys.argv[14], "pool_size": int(sys.argv[15])}))' \
    "$(pg_sql 'SHOW server_version')" "$(pg_sql 'SHOW synchronous_commit')" "$(pg_sql 'SHOW shared_buffers')" \
    "$(pg_sql 'SHOW fsync')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$BUSY" "$PROFILES" "$DURATION" \
    "$ROUNDS" "$CONNECTIONS" "$CLIENTS" "$(cd "$ROOT" && git rev-parse --short HEAD)" "$PROFILE" "$POOL_SIZE")"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serve NAME: starts an instance on the bench schema; sets SERVE_PID and SERVE_URL.
serve() {
    local port
    port=$(free_port)
    SERVE_URL=http://127.0.0.1:$port
    python3 "$LIB/launch.py" --url "$SERVE_URL/healthz" --pid-file "$WORK/$1.pid" --log "$WORK/$1.log" -- \
        "$GRAPHSEC" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" --log-level warn \
        --database-url "$PG_URL_APP$1" --database-schema "$SCHEMA" --database-pool-size "$POOL_SIZE" --rate-limit 0 > /dev/null
    SERVE_PID=$(cat "$WORK/$1.pid")
    STARTED_PIDS+=("$SERVE_PID")
}
# Each instance's sessions carry its name, so that its backends can be found.
case $PG_URL in *\?*) PG_URL_APP="$PG_URL&application_name=" ;; *) PG_URL_APP="$PG_URL?application_name=" ;; esac

log "PostgreSQL schema $SCHEMA; $PROFILES profiles"
SCHEMA_MADE=1
serve gs_a
A_PID=$SERVE_PID A_URL=$SERVE_URL
TOKEN=$("$GRAPHSEC" token --tenant "$TENANT" --data-dir "$WORK/data")
python3 "$LIB/gen_profiles.py" --count "$PROFILES" --tenant "$TENANT" --ndjson "$WORK/profiles.ndjson" --json-server /dev/null
"$GRAPHSEC" import --data-dir "$WORK/data" --database-url "$PG_URL" --database-schema "$SCHEMA" \
    --tenant "$TENANT" "$WORK/profiles.ndjson" > /dev/null
pg_sql "SET search_path = \"$SCHEMA\"; ANALYZE"
serve gs_b
B_PID=$SERVE_PID B_URL=$SERVE_URL

# The bare statements, on the same tables, parameterised as pgbench's prepared statements.
KEY="'u' || lpad(:i::text, 7, '0')"
cat > "$WORK/get.sql" <<EOF
\set i random(0, $((PROFILES - 1)))
SELECT wire, version FROM profiles WHERE tenant = '$TENANT' AND id = $KEY;
EOF
cat > "$WORK/patch.sql" <<EOF
\set i random(0, $((PROFILES - 1)))
UPDATE profiles SET version = version + 1, display_name = 'patched ' || :i, last_modified_date_time = clock_timestamp()::text, doc = jsonb_set(doc, '{displayName}', to_jsonb('patched ' || :i)), wire = wire WHERE tenant = '$TENANT' AND id = $KEY;
EOF
DOC=$(head -n 1 "$WORK/profiles.ndjson" | sed "s/u0000000/q' || :id || '/g")
cat > "$WORK/post.sql" <<EOF
\set n random(1, 1000000000000)
\set id :client_id * 1000000000000 + :n
INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, azure_subscription_id, created_date_time, last_modified_date_time, doc, wire) VALUES ('$TENANT', 'q' || :id, 1, 'q' || :id || '@contoso.com', 'Posted ' || :id, '7', '00000000-0000-4000-8000-000000000000', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', ('$DOC')::jsonb, '$DOC') ON CONFLICT (tenant, id) DO NOTHING;
EOF
cat > "$WORK/list.sql" <<EOF
\set i random(0, $((PROFILES - 1)))
SELECT p.wire, p.version FROM profiles p WHERE p.tenant = '$TENANT' AND p.user_principal_name = $KEY || '@contoso.com' ORDER BY p.id LIMIT 101 OFFSET 0;
EOF

ticks() { local t=0 pid v; for pid in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2> /dev/null) || v=0; t=$((t + v)); done; echo "$t"; }
backends() { pg_sql "SELECT pid FROM pg_stat_activity WHERE application_name = ANY (string_to_array('$1', ','))" | tr '\n' ' '; }

# wrk_run MODE URL CONNECTIONS THREADS OUT
wrk_run() {
    env BENCH_MODE="$1" BENCH_BASE="$COLLECTION" BENCH_N="$PROFILES" BENCH_TOKEN="$TOKEN" BENCH_TENANT="$TENANT" \
        BENCH_PREFER="$([[ $1 == patch || $1 == post ]] && echo return=minimal)" BENCH_NONCE="m$RANDOM$RANDOM" \
        wrk -t"$4" -c"$3" -d"${DURATION}s" --timeout 10s -s "$BENCH_DIR/wrk/scenario.lua" "$2" > "$5"
}
warm() {
    env BENCH_MODE="$1" BENCH_BASE="$COLLECTION" BENCH_N="$PROFILES" BENCH_TOKEN="$TOKEN" BENCH_TENANT="$TENANT" \
        BENCH_NONCE="w$RANDOM$RANDOM" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        -s "$BENCH_DIR/wrk/scenario.lua" "$2" > /dev/null
}
result_line() { grep '^BENCH_RESULT ' "$1" | sed 's/^BENCH_RESULT //'; }

# graphsec MODE ROUND INSTANCES: one instance takes every connection, or two take half each.
graphsec_run() {
    local mode=$1 round=$2 instances=$3 apps pids pg_pids before_gs before_pg after_gs after_pg line_a line_b
    warm "$mode" "$A_URL"
    if [[ $instances == 1 ]]; then apps=gs_a; pids="$A_PID"; else apps=gs_a,gs_b; pids="$A_PID $B_PID"; fi
    [[ $instances == 2 ]] && warm "$mode" "$B_URL"
    pg_pids=$(backends "$apps")
    # shellcheck disable=SC2086
    before_gs=$(ticks $pids); before_pg=$(ticks $pg_pids)
    if [[ $instances == 1 ]]; then
        wrk_run "$mode" "$A_URL" "$CONNECTIONS" "$THREADS" "$WORK/a.out"
    else
        wrk_run "$mode" "$A_URL" $((CONNECTIONS / 2)) 1 "$WORK/a.out" &
        wrk_run "$mode" "$B_URL" $((CONNECTIONS / 2)) 1 "$WORK/b.out"
        wait
    fi
    pg_pids="$pg_pids $(backends "$apps")"
    # shellcheck disable=SC2086
    after_gs=$(ticks $pids); after_pg=$(ticks $(echo $pg_pids | tr ' ' '\n' | sort -u))
    line_a=$(result_line "$WORK/a.out"); line_b=""
    [[ $instances == 2 ]] && line_b=$(result_line "$WORK/b.out")
    record "$(python3 "$LIB/pg_report.py" --record graphsec "$mode" "$round" "$instances" \
        "$((after_gs - before_gs))" "$((after_pg - before_pg))" "$(getconf CLK_TCK)" "$line_a" "$line_b")"
}

pgbench_run() {
    local mode=$1 round=$2 tps
    PGOPTIONS="-c search_path=$SCHEMA" pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$WARMUP" -f "$WORK/$mode.sql" "$PG_URL" > /dev/null 2>&1
    tps=$(PGOPTIONS="-c search_path=$SCHEMA" pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" \
        -f "$WORK/$mode.sql" "$PG_URL" 2>&1 | awk '/^tps = / {print $3; exit}')
    [[ -n $tps ]] || { log "pgbench $mode printed no tps"; exit 1; }
    record "{\"kind\":\"pgbench\",\"mode\":\"$mode\",\"round\":$round,\"tps\":$tps}"
}

for round in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
        log "round $round/$ROUNDS: $mode (graphsec, pgbench)"
        graphsec_run "$mode" "$round" 1
        pgbench_run "$mode" "$round"
        if [[ $mode == get || $mode == patch ]]; then
            log "round $round/$ROUNDS: $mode on two instances"
            graphsec_run "$mode" "$round" 2
        fi
    done
done
# The statement graphsec's list ran last, as its backend reports it.
LIST_SQL=$(pg_sql "SELECT query FROM pg_stat_activity WHERE application_name = 'gs_a' AND query LIKE '%user_principal_name%' LIMIT 1" | tr '\n' ' ')
record "$(python3 -c 'import json, sys; print(json.dumps({"kind": "meta", "graphsec_list_sql": sys.argv[1], "loadavg_after": sys.argv[2]}))' "$LIST_SQL" "$(cut -d' ' -f1-3 /proc/loadavg)")"
python3 "$LIB/pg_report.py" --report "$RESULTS" --scripts "$WORK" --output "$OUTPUT"
log "wrote $OUTPUT"
