#!/usr/bin/env bash
# $batch under memory pressure: CLIENTS connections send JSON batches of 20 pages of 1,000
# profiles (about 12.7 MB per answer) over 100,000 profiles for DURATION seconds, while one more
# connection reads single profiles by id. Records the server's peak RSS (VmHWM) and the GET
# client's latency, for graphsec as built here and, with --before, for another build of it (the
# code before a change) on the same data in the same run. Writes bench/results/batch-memory.md.
#
#   bench/batch_memory.sh                          this tree only
#   bench/batch_memory.sh --before-rev HEAD~1      also the parent commit (built once, cached)
#   bench/batch_memory.sh --help                   every option
#
# Everything runs on 127.0.0.1 with --auth off --rate-limit 0; the servers started here are
# stopped by PID, also on failure or Ctrl-C, and the temporary data directory is removed.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
LIB=$BENCH_DIR/lib
OUTPUT=$BENCH_DIR/results/batch-memory.md
TENANT=11111111-2222-3333-4444-555555555555
COLLECTION=/beta/security/userSecurityProfiles

PROFILES=100000
DURATION=20
CLIENTS=64
THREADS=2
ITEMS=20
TOP=1000
GET_ALONE=5
BUDGET_MB=""
BEFORE_BIN=""
BEFORE_REV=""
ALSO_CLIENTS=""
ALSO_BUDGET_MB=""
BUILD=1
ARGS="$*"

usage() {
    cat <<'EOF'
usage: bench/batch_memory.sh [options]

  --profiles N         profiles imported (default 100000)
  --duration S         seconds of load (default 20)
  --clients C          connections sending batches (default 64; one more reads by id)
  --items N            requests per batch (default 20); --top N their page size (default 1000)
  --budget-mb MB       --response-memory-mb for this tree's server (default: the server's default)
  --also-clients C     measure this tree's server once more with C batch connections (overload)
  --also-budget-mb MB  ... and with --response-memory-mb MB in that second run
  --before-bin FILE    also measure this graphsec binary (e.g. a build of the code before a change)
  --before-rev REV     also measure git revision REV, built with cargo in
                       ${TMPDIR:-/tmp}/graphsec-before-<commit> (kept for the next run)
  --no-build           use target/dist/graphsec as it is
  --output FILE        where to write the report (default bench/results/batch-memory.md)
EOF
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --profiles) PROFILES=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --items) ITEMS=$2; shift ;;
        --top) TOP=$2; shift ;;
        --budget-mb) BUDGET_MB=$2; shift ;;
        --also-clients) ALSO_CLIENTS=$2; shift ;;
        --also-budget-mb) ALSO_BUDGET_MB=$2; shift ;;
        --before-bin) BEFORE_BIN=$2; shift ;;
        --before-rev) BEFORE_REV=$2; shift ;;
        --no-build) BUILD=0 ;;
        --output) OUTPUT=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "batch_memory.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-batch-memory.XXXXXX")
RESULTS=$WORK/results.jsonl
RAW_LOG=${OUTPUT%.md}-raw.log
STARTED_PIDS=()
mkdir -p "$(dirname "$OUTPUT")"
: > "$RAW_LOG"

alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

stop_pid() {
    local pid=$1 _
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 300); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive "$pid" || return 0
        sleep 0.1
    done
}

cleanup() {
    local code=$? pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ $code -ne 0 ]]; then
        cp "$WORK/server.log" "${OUTPUT%.md}-server.log" 2>/dev/null || true
        echo "batch_memory.sh: failed (exit $code); the server's log is in ${OUTPUT%.md}-server.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" | tee -a "$RAW_LOG" >&2; }
die() { log "error: $*"; exit 1; }
record() { printf '%s\n' "$1" >> "$RESULTS"; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

need() { command -v "$1" > /dev/null || die "$1 is required ($2)"; }
need cargo "https://rustup.rs"
need python3 "apt-get install python3"
need wrk "apt-get install wrk"

if [[ $BUILD == 1 ]]; then
    log "building graphsec (dist profile)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target" cargo build --profile dist -q -p graphsec) \
        || die "cargo build --profile dist -p graphsec failed"
fi
GRAPHSEC=$ROOT/target/dist/graphsec
[[ -x $GRAPHSEC ]] || die "$GRAPHSEC missing (run without --no-build)"

if [[ -n $BEFORE_REV ]]; then
    REV=$(git -C "$ROOT" rev-parse --verify "$BEFORE_REV^{commit}") || die "unknown revision $BEFORE_REV"
    BEFORE_DIR=${TMPDIR:-/tmp}/graphsec-before-$REV
    # Revisions from before the dist profile built their optimised binary as release.
    PROFILE=dist
    git -C "$ROOT" show "$REV:Cargo.toml" | grep -q '^\[profile.dist\]' || PROFILE=release
    if [[ ! -x $BEFORE_DIR/target/$PROFILE/graphsec ]]; then
        log "building graphsec at ${REV:0:7} ($PROFILE profile) in $BEFORE_DIR"
        mkdir -p "$BEFORE_DIR"
        git -C "$ROOT" archive "$REV" | tar -x -C "$BEFORE_DIR"
        (cd "$BEFORE_DIR" && CARGO_TARGET_DIR="$BEFORE_DIR/target" cargo build --profile $PROFILE -q -p graphsec) \
            || die "building $BEFORE_REV failed"
    fi
    BEFORE_BIN=$BEFORE_DIR/target/$PROFILE/graphsec
    BEFORE_LABEL="before (${REV:0:7})"
elif [[ -n $BEFORE_BIN ]]; then
    [[ -x $BEFORE_BIN ]] || die "$BEFORE_BIN is not an executable"
    BEFORE_LABEL="before ($BEFORE_BIN)"
fi

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=false
if [[ -n $(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then DIRTY=true; fi
record "$(python3 - "$COMMIT" "$DIRTY" "$ARGS" <<PY
import json, os, platform, sys, time
mem = "%.0f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
print(json.dumps({"kind": "meta", "date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": sys.argv[1],
    "dirty": sys.argv[2] == "true", "args": sys.argv[3], "cpus": os.cpu_count(), "mem": mem,
    "kernel": "Linux " + platform.release(), "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
    "profiles": $PROFILES, "duration": $DURATION, "clients": $CLIENTS, "threads": $THREADS,
    "items": $ITEMS, "top": $TOP, "get_alone": $GET_ALONE}))
PY
)"

log "generating and importing $PROFILES profiles"
python3 "$LIB/gen_profiles.py" --count "$PROFILES" --tenant "$TENANT" --ndjson "$WORK/profiles.ndjson"
DATA=$WORK/data
"$GRAPHSEC" migrate --data-dir "$DATA" >> "$RAW_LOG" 2>&1 || die "graphsec migrate failed"
"$GRAPHSEC" import --data-dir "$DATA" --tenant "$TENANT" "$WORK/profiles.ndjson" >> "$RAW_LOG" 2>&1 \
    || die "graphsec import failed"
rm -f "$WORK/profiles.ndjson"

PORT=$(free_port)
ORIGIN=http://127.0.0.1:$PORT

# wrk_result LABEL SCENARIO OUT : records wrk's BENCH_RESULT line.
wrk_result() {
    local line
    { echo "=== $1 $2"; cat "$3"; } >> "$RAW_LOG"
    line=$(grep '^BENCH_RESULT ' "$3") || die "wrk printed no result for $1 $2"
    record "$(python3 - "$1" "$2" "$line" <<'PY'
import json, sys
r = {"kind": "wrk", "server": sys.argv[1], "scenario": sys.argv[2]}
for item in sys.argv[3].split()[1:]:
    k, v = item.split("=", 1)
    r[k] = float(v) if "." in v else int(v)
print(json.dumps(r))
PY
)"
    log "$1 $2: ${line#BENCH_RESULT }"
}

# measure LABEL CLIENTS BINARY [SERVE ARGS...] : one server on the imported data, the whole scenario.
measure() {
    local label=$1 clients=$2 binary=$3 pid hwm rss idle
    shift 3
    python3 "$LIB/launch.py" --url "$ORIGIN/healthz" --pid-file "$WORK/server.pid" --log "$WORK/server.log" \
        --timeout 120 -- "$binary" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --auth off \
        --rate-limit 0 --log-level warn "$@" > /dev/null || {
        if [[ -s $WORK/server.pid ]]; then STARTED_PIDS+=("$(cat "$WORK/server.pid")"); fi
        tail -n 20 "$WORK/server.log" >&2 || true
        die "$label did not start"
    }
    pid=$(cat "$WORK/server.pid")
    STARTED_PIDS+=("$pid")
    sleep 1
    idle=$(status_kb "$pid" VmRSS)
    log "$label: pid $pid, idle RSS $((idle / 1024)) MiB"

    BENCH_MODE=get BENCH_BASE=$COLLECTION BENCH_N=$PROFILES wrk -t1 -c1 -d"${GET_ALONE}s" --timeout 10s \
        -s "$BENCH_DIR/wrk/scenario.lua" "$ORIGIN" > "$WORK/get-alone.out"
    wrk_result "$label" get-alone "$WORK/get-alone.out"

    log "$label: $clients clients sending batches of $ITEMS x \$top=$TOP, 1 reading by id, ${DURATION}s"
    BENCH_ITEMS=$ITEMS BENCH_ITEM_URL="/security/userSecurityProfiles?\$top=$TOP" \
        wrk -t"$THREADS" -c"$clients" -d"${DURATION}s" --timeout 60s -s "$BENCH_DIR/wrk/batch.lua" \
        "$ORIGIN" > "$WORK/batch.out" &
    local batch_pid=$!
    BENCH_MODE=get BENCH_BASE=$COLLECTION BENCH_N=$PROFILES wrk -t1 -c1 -d"${DURATION}s" --timeout 10s \
        -s "$BENCH_DIR/wrk/scenario.lua" "$ORIGIN" > "$WORK/get.out" &
    local get_pid=$!
    wait "$get_pid" || die "wrk (GET) failed"
    wait "$batch_pid" || die "wrk (batch) failed"
    alive "$pid" || die "$label exited under load (see $WORK/server.log)"
    hwm=$(status_kb "$pid" VmHWM)
    rss=$(status_kb "$pid" VmRSS)
    wrk_result "$label" batch "$WORK/batch.out"
    wrk_result "$label" get "$WORK/get.out"
    log "$label: peak RSS $((hwm / 1024)) MiB, RSS after the load $((rss / 1024)) MiB"

    # One more batch once the load has stopped: every item must be a full page. A server may still
    # be working through batches whose clients went away when wrk stopped; the time says so.
    python3 - "$ORIGIN" "$ITEMS" "$TOP" > "$WORK/check.json" <<'PY'
import json, sys, time, urllib.request
origin, items, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"requests": [{"id": str(i), "method": "GET",
                                 "url": "/security/userSecurityProfiles?$top=%d" % top} for i in range(items)]})
request = urllib.request.Request(origin + "/beta/$batch", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
started = time.monotonic()
try:
    with urllib.request.urlopen(request, timeout=300) as response:
        data = response.read()
    answer = json.loads(data)
    full = sum(1 for r in answer["responses"] if r["status"] == 200 and len(r["body"]["value"]) == top)
    print(json.dumps({"bytes": len(data), "seconds": round(time.monotonic() - started, 3), "full_items": full}))
except Exception as e:
    print(json.dumps({"bytes": 0, "seconds": round(time.monotonic() - started, 3), "full_items": 0,
                      "error": repr(e)[:200]}))
PY
    record "$(python3 - "$label" "$clients" "$idle" "$hwm" "$rss" "$WORK/check.json" <<'PY'
import json, sys
label, clients, idle, hwm, rss, check = sys.argv[1:7]
c = json.load(open(check))
print(json.dumps({"kind": "server", "server": label, "clients": int(clients), "idle_rss_mb": int(idle) / 1024,
                  "peak_rss_mb": int(hwm) / 1024, "after_rss_mb": int(rss) / 1024,
                  "check_bytes": c["bytes"], "check_seconds": c["seconds"], "check_full_items": c["full_items"],
                  "check_error": c.get("error")}))
PY
)"
    stop_pid "$pid"
    if alive "$pid"; then die "$label did not stop"; fi
    # The next server starts once the machine has taken back this one's memory and CPU.
    sleep 5
}

if [[ -n $BEFORE_BIN ]]; then
    measure "$BEFORE_LABEL" "$CLIENTS" "$BEFORE_BIN"
fi
EXTRA=()
if [[ -n $BUDGET_MB ]]; then
    EXTRA=(--response-memory-mb "$BUDGET_MB")
    BUDGET_SHOWN="--response-memory-mb $BUDGET_MB"
else
    DEFAULT_MB=$("$GRAPHSEC" serve --help | awk '/--response-memory-mb/ {on = 1} on && /\[default:/ {gsub(/[^0-9]/, ""); print; exit}')
    BUDGET_SHOWN="default budget${DEFAULT_MB:+ ($DEFAULT_MB MiB)}"
fi
AFTER_LABEL="after ($COMMIT), $BUDGET_SHOWN"
if [[ $DIRTY == true ]]; then AFTER_LABEL="after ($COMMIT, uncommitted changes), $BUDGET_SHOWN"; fi
measure "$AFTER_LABEL" "$CLIENTS" "$GRAPHSEC" "${EXTRA[@]}"
if [[ -n $ALSO_CLIENTS ]]; then
    if [[ -n $ALSO_BUDGET_MB ]]; then
        EXTRA=(--response-memory-mb "$ALSO_BUDGET_MB")
        AFTER_LABEL="after ($COMMIT), --response-memory-mb $ALSO_BUDGET_MB"
    fi
    measure "$AFTER_LABEL" "$ALSO_CLIENTS" "$GRAPHSEC" "${EXTRA[@]}"
fi

cp "$RESULTS" "${OUTPUT%.md}.jsonl"
python3 "$LIB/batch_report.py" "$RESULTS" > "$OUTPUT.tmp"
mv "$OUTPUT.tmp" "$OUTPUT"
log "wrote ${OUTPUT#"$ROOT"/}"
cat "$OUTPUT"
