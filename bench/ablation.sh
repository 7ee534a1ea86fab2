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

source "$BENCH_DIR/lib/single_server.sh"

: > "$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for variant in "${VARIANTS[@]}"; do
        without=${variant/all/}
        GRAPHSEC_SQLITE_WITHOUT=$without serve --durability full
        patch_load "$WARMUP" > /dev/null
        line=$(patch_load "$DURATION")
        stop_server
        rps=$(field rps "$line")
        p99=$(field p99_ms "$line")
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
