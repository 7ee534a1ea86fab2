#!/usr/bin/env bash
# Ablation of the SQLite write path's mechanisms: PATCH throughput, p99 and the WAL's size after
# the run, for graphsec at --durability full with everything on and with each mechanism switched
# off in turn (GRAPHSEC_SQLITE_WITHOUT), interleaved round after round on the same data. A
# mechanism stays only while it gains 10% or more on one of the figures. Writes
# bench/results/ablation.md.
#
#   bench/ablation.sh [--rounds R] [--duration S] [--profiles N] [--no-build]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUTPUT=$BENCH_DIR/results/ablation.md
ROUNDS=3
DURATION=10
WARMUP=2
PROFILES=10000
BUILD=1
VARIANTS=(all row-cache writer-restart flush-before-restart)

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

source "$BENCH_DIR/lib/single_server.sh"

: > "$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for variant in "${VARIANTS[@]}"; do
        without=${variant/all/}
        GRAPHSEC_SQLITE_WITHOUT=$without serve --durability full
        patch_load "$WARMUP" > /dev/null
        line=$(patch_load "$DURATION")
        wal=$(python3 -c 'import os, sys; print(os.path.getsize(sys.argv[1]) / 2**20)' "$DATA/graphsec.sqlite3-wal")
        stop_server
        rps=$(field rps "$line")
        p99=$(field p99_ms "$line")
        printf '%s\t%s\t%s\t%s\t%s\n' "$variant" "$round" "$rps" "$p99" "$wal" >> "$WORK/results.tsv"
        log "round $round, without ${variant/all/nothing}: $rps PATCH/s, p99 $p99 ms, WAL $wal MB"
    done
done

python3 - "$WORK/results.tsv" "$OUTPUT" "$ROUNDS" "$DURATION" "$PROFILES" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import statistics, sys
path, output, rounds, duration, profiles, commit = sys.argv[1:7]
by = {}
for line in open(path).read().splitlines():
    variant, _, *figures = line.split("\t")
    by.setdefault(variant, []).append(tuple(map(float, figures)))
median = lambda runs, i: statistics.median(run[i] for run in runs)
base = [median(by["all"], i) for i in range(3)]
out = [
    "# Ablation of the SQLite write path",
    "",
    f"Commit {commit}. PATCH at `--durability full`, {profiles} profiles, `wrk -t2 -c64`, {duration} s per run "
    f"after a warm-up, {rounds} interleaved rounds; medians, each round in brackets. The WAL's size is the file's "
    "after the run (SQLite reuses the file's blocks after a restart and does not shrink it). A mechanism's gain is "
    "what switching it off costs.",
    "",
    "| switched off | PATCH/s | p99 ms | WAL MB | gain: throughput | gain: p99 | gain: WAL | keep (>= 10%) |",
    "|---|---|---|---|---:|---:|---:|---|",
]
for variant, runs in by.items():
    cells = " | ".join(
        f"{median(runs, i):,.{d}f} ({', '.join(f'{run[i]:,.{d}f}' for run in runs)})" for i, d in [(0, 0), (1, 1), (2, 0)]
    )
    if variant == "all":
        out.append(f"| nothing | {cells} | | | | |")
        continue
    gains = [base[0] / median(runs, 0) - 1, median(runs, 1) / base[1] - 1, median(runs, 2) / max(base[2], 0.1) - 1]
    keep = "yes" if max(gains) >= 0.10 else "no"
    out.append(f"| {variant} | {cells} | {gains[0]:+.0%} | {gains[1]:+.0%} | {gains[2]:+.0%} | {keep} |")
open(output, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
