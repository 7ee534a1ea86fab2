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

source "$BENCH_DIR/lib/single_server.sh"
serve --audit-retention "$RETENTION"

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
    line=$(patch_load "$SAMPLE")
    requests=$(field requests "$line")
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
