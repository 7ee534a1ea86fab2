#!/usr/bin/env bash
# Audit soak: endless PATCHes against graphsec on SQLite with a short audit retention, and the
# data directory's size sampled as it goes. Once the retention applies, the disk in use (database,
# WAL and their free pages) must stay flat. Writes bench/results/audit-soak.md.
#
#   bench/audit_soak.sh [--patches N] [--retention D] [--sample S] [--no-build]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUTPUT=$BENCH_DIR/results/audit-soak.md
TENANT=11111111-2222-3333-4444-555555555555
COLLECTION=/beta/security/userSecurityProfiles
PROFILES=10000
PATCHES=2000000
RETENTION=1m
SAMPLE=10
MAX_SECONDS=600
BUILD=1

while [[ $# -gt 0 ]]; do
    case $1 in
        --patches) PATCHES=$2; shift ;;
        --retention) RETENTION=$2; shift ;;
        --sample) SAMPLE=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "audit_soak.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

command -v wrk > /dev/null || { echo "audit_soak.sh: wrk is required (apt-get install wrk)" >&2; exit 1; }
# On the repository's file system: the sizes measured are those of a real data directory.
WORK=$(mktemp -d -p "$ROOT/target" soak.XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do [[ -e /proc/$SERVER_PID ]] || break; sleep 0.1; done
    fi
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
python3 "$BENCH_DIR/lib/launch.py" --url "$URL/healthz" --pid-file "$WORK/pid" --log "$WORK/server.log" \
    --timeout 60 -- "$GRAPHSEC" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --rate-limit 0 \
    --log-level warn --audit-retention "$RETENTION" > /dev/null || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
SERVER_PID=$(cat "$WORK/pid")

# sample ELAPSED PATCHES: one row of sizes, in MB, and the audit rows left.
sample() {
    python3 - "$DATA" "$1" "$2" <<'PY' >> "$WORK/samples.tsv"
import os, sqlite3, sys
data, elapsed, patches = sys.argv[1:4]
size = lambda name: os.path.getsize(os.path.join(data, name)) / 2**20 if os.path.exists(os.path.join(data, name)) else 0.0
db = sqlite3.connect(f"file:{os.path.join(data, 'graphsec.sqlite3')}?mode=ro", uri=True, timeout=30)
rows = db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0] / 2**20
db.close()
print(f"{elapsed}\t{patches}\t{size('graphsec.sqlite3'):.1f}\t{free:.1f}\t{size('graphsec.sqlite3-wal'):.1f}\t{rows}")
PY
}

started=$(date +%s)
done_patches=0
sample 0 0
while (( done_patches < PATCHES && $(date +%s) - started < MAX_SECONDS )); do
    line=$(env BENCH_MODE=patch BENCH_BASE="$COLLECTION" BENCH_N="$PROFILES" BENCH_TOKEN="$TOKEN" \
        BENCH_TENANT="$TENANT" BENCH_NONCE="s$RANDOM$RANDOM" wrk -t2 -c64 -d"${SAMPLE}s" --timeout 10s \
        -s "$BENCH_DIR/wrk/scenario.lua" "$URL" | grep '^BENCH_RESULT ')
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$line")
    bad=$(sed -E 's/.* bad_status=([0-9]+).*/\1/' <<< "$line")
    [[ $bad == 0 ]] || { echo "audit_soak.sh: $bad PATCHes failed" >&2; exit 1; }
    done_patches=$((done_patches + requests))
    sample "$(( $(date +%s) - started ))" "$done_patches"
    log "$(tail -n 1 "$WORK/samples.tsv")"
done

python3 - "$WORK/samples.tsv" "$OUTPUT" "$RETENTION" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import sys
path, output, retention, commit = sys.argv[1:5]
rows = [line.split("\t") for line in open(path).read().splitlines()]
out = [
    "# Audit soak",
    "",
    f"Commit {commit}. graphsec on SQLite (`--durability full`, `--audit-retention {retention}`), 10,000 profiles, "
    "PATCH with `wrk -t2 -c64`; sizes of the data directory sampled between runs.",
    "",
    "| elapsed s | PATCHes | database MB | of it free pages MB | WAL MB | audit rows |",
    "|---:|---:|---:|---:|---:|---:|",
]
out += [f"| {e} | {int(p):,} | {d} | {f} | {w} | {int(r):,} |" for e, p, d, f, w, r in rows]
open(output, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
