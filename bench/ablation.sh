#!/usr/bin/env bash
# Ablation of the SQLite write path's speed mechanisms: PATCH throughput and p99 of graphsec at
# --durability full with everything on, and with each mechanism switched off in turn
# (GRAPHSEC_SQLITE_WITHOUT), interleaved round after round on the same data. A mechanism stays
# only while it gains 10% or more on either figure. Writes bench/results/ablation.md.
#
#   bench/ablation.sh [--rounds R] [--duration S] [--profiles N] [--no-build]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUTPUT=$BENCH_DIR/results/ablation.md
TENANT=11111111-2222-3333-4444-555555555555
COLLECTION=/beta/security/userSecurityProfiles
ROUNDS=3
DURATION=10
WARMUP=2
PROFILES=10000
BUILD=1
VARIANTS=(all row-cache flush-before-restart)

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --profiles) PROFILES=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "ablation.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

command -v wrk > /dev/null || { echo "ablation.sh: wrk is required (apt-get install wrk)" >&2; exit 1; }
# On the repository's file system, not /tmp: fsync costs what it costs where data lives.
WORK=$(mktemp -d -p "$ROOT/target" ablation.XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then stop_server; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ $BUILD == 1 ]]; then (cd "$ROOT" && cargo build --release -q -p graphsec); fi
GRAPHSEC=$ROOT/target/release/graphsec
DATA=$WORK/data
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT

python3 "$BENCH_DIR/lib/gen_profiles.py" --count "$PROFILES" --tenant "$TENANT" --ndjson "$WORK/profiles.ndjson"
"$GRAPHSEC" import --data-dir "$DATA" "$WORK/profiles.ndjson" > /dev/null
TOKEN=$("$GRAPHSEC" token --data-dir "$DATA" --tenant "$TENANT" --ttl 6h)

# serve VARIANT: graphsec as bench/run.sh starts it, with one mechanism off (or none: "all").
serve() {
    local without=$1
    [[ $without == all ]] && without=
    GRAPHSEC_SQLITE_WITHOUT=$without python3 "$BENCH_DIR/lib/launch.py" --url "$URL/healthz" \
        --pid-file "$WORK/pid" --log "$WORK/server.log" --timeout 60 -- "$GRAPHSEC" serve \
        --listen "127.0.0.1:$PORT" --data-dir "$DATA" --log-level warn --durability full --rate-limit 0 > /dev/null \
        || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
    SERVER_PID=$(cat "$WORK/pid")
}

stop_server() { # SIGTERM, then wait until the process is gone (the next one needs its data directory lock)
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do [[ -e /proc/$SERVER_PID ]] || break; sleep 0.1; done
    SERVER_PID=
}

patch_run() { # patch_run SECONDS -> the BENCH_RESULT line
    env BENCH_MODE=patch BENCH_BASE="$COLLECTION" BENCH_N="$PROFILES" BENCH_TOKEN="$TOKEN" BENCH_TENANT="$TENANT" \
        BENCH_NONCE="a$RANDOM$RANDOM" wrk -t2 -c64 -d"${1}s" --timeout 10s -s "$BENCH_DIR/wrk/scenario.lua" "$URL" \
        | grep '^BENCH_RESULT '
}

: > "$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for variant in "${VARIANTS[@]}"; do
        serve "$variant"
        patch_run "$WARMUP" > /dev/null
        line=$(patch_run "$DURATION")
        stop_server
        rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<< "$line")
        p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<< "$line")
        bad=$(sed -E 's/.* bad_status=([0-9]+).*/\1/' <<< "$line")
        [[ $bad == 0 ]] || { echo "ablation.sh: $variant answered $bad bad statuses" >&2; exit 1; }
        printf '%s\t%s\t%s\t%s\n' "$variant" "$round" "$rps" "$p99" >> "$WORK/results.tsv"
        log "round $round, without ${variant/all/nothing}: $rps PATCH/s, p99 $p99 ms"
    done
done

python3 - "$WORK/results.tsv" "$OUTPUT" "$ROUNDS" "$DURATION" "$PROFILES" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import statistics, sys
path, output, rounds, duration, profiles, commit = sys.argv[1:7]
rows = [line.split("\t") for line in open(path).read().splitlines()]
by = {}
for variant, _, rps, p99 in rows:
    by.setdefault(variant, []).append((float(rps), float(p99)))
base_rps = statistics.median(r for r, _ in by["all"])
base_p99 = statistics.median(p for _, p in by["all"])
out = [
    "# Ablation of the SQLite write path",
    "",
    f"Commit {commit}. PATCH at `--durability full`, {profiles} profiles, `wrk -t2 -c64`, {duration} s per run "
    f"after a warm-up, {rounds} interleaved rounds; medians. A mechanism's gain is what switching it off costs.",
    "",
    "| switched off | PATCH/s (rounds) | p99 ms (rounds) | throughput gain of the mechanism | p99 gain of the mechanism | keep (>= 10%) |",
    "|---|---|---|---:|---:|---|",
]
for variant, runs in by.items():
    rps = statistics.median(r for r, _ in runs)
    p99 = statistics.median(p for _, p in runs)
    cells = f"{rps:,.0f} ({', '.join(f'{r:,.0f}' for r, _ in runs)}) | {p99:.1f} ({', '.join(f'{p:.1f}' for _, p in runs)})"
    if variant == "all":
        out.append(f"| nothing | {cells} | | | |")
        continue
    gain_rps = base_rps / rps - 1
    gain_p99 = p99 / base_p99 - 1
    keep = "yes" if max(gain_rps, gain_p99) >= 0.10 else "no"
    out.append(f"| {variant} | {cells} | {gain_rps:+.0%} | {gain_p99:+.0%} | {keep} |")
open(output, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
