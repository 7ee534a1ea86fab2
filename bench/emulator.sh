#!/usr/bin/env bash
# Emulator commands: how fast `graphsec generate` prints profiles, how fast `graphsec export`
# writes back what `import` loaded, and the peak memory of each; then that `export | import |
# export` gives the same bytes at this size, and how long `backup` takes. Writes
# bench/results/emulator.md.
#
#   bench/emulator.sh [--count N] [--profile dist|release] [--no-build] [--no-verify]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUTPUT=$BENCH_DIR/results/emulator.md
COUNT=1000000
PROFILE=dist
BUILD=1
VERIFY=1

while [[ $# -gt 0 ]]; do
    case $1 in
        --count) COUNT=$2; shift ;;
        --profile) PROFILE=$2; shift ;;
        --no-build) BUILD=0 ;;
        --no-verify) VERIFY=0 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "emulator.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[emulator] $*" >&2; }

if (( BUILD )); then
    log "building graphsec (--profile $PROFILE)"
    (cd "$ROOT" && cargo build --quiet --profile "$PROFILE" -p graphsec)
fi
BIN=$ROOT/target/$PROFILE/graphsec
[[ -x $BIN ]] || { echo "emulator.sh: no $BIN; build it or drop --no-build" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-emulator.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TIMED="python3 $BENCH_DIR/lib/timed.py"
ROWS=$WORK/rows.tsv

# measure NAME OUT CMD...: runs CMD with its output in OUT; records seconds and peak RSS.
measure() {
    local name=$1 out=$2
    shift 2
    local seconds peak code
    read -r seconds peak code < <($TIMED --out "$out" -- "$@")
    (( code == 0 )) || { echo "emulator.sh: $name exited $code" >&2; tail -n 5 "$out" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$name" "$seconds" "$peak" >> "$ROWS"
    log "$name: ${seconds} s, peak RSS ${peak} kB"
}

log "generate $COUNT profiles"
measure "generate > /dev/null" /dev/null "$BIN" generate --count "$COUNT" --seed 1
measure "generate > file" "$WORK/generated.jsonl" "$BIN" generate --count "$COUNT" --seed 1
"$BIN" migrate --data-dir "$WORK/data" > /dev/null
measure "import (not a target)" "$WORK/import.log" "$BIN" import --data-dir "$WORK/data" "$WORK/generated.jsonl"
rm -f "$WORK/generated.jsonl"
measure "export > /dev/null" /dev/null "$BIN" export --data-dir "$WORK/data"
measure "export > file" "$WORK/exported.jsonl" "$BIN" export --data-dir "$WORK/data"
measure "backup (not a target)" "$WORK/backup.log" "$BIN" backup --data-dir "$WORK/data" --to "$WORK/copy"
EXPORT_BYTES=$(stat -c %s "$WORK/exported.jsonl")
DB_BYTES=$(stat -c %s "$WORK/data/graphsec.sqlite3")

VERIFIED="not checked (--no-verify)"
if (( VERIFY )); then
    log "export | import | export"
    rm -rf "$WORK/copy"
    "$BIN" migrate --data-dir "$WORK/again" > /dev/null
    "$BIN" import --data-dir "$WORK/again" "$WORK/exported.jsonl" > /dev/null
    if "$BIN" export --data-dir "$WORK/again" | cmp -s - "$WORK/exported.jsonl"; then
        VERIFIED="byte-identical"
    else
        VERIFIED="DIFFERENT"
    fi
    log "round trip: $VERIFIED"
fi

python3 - "$ROWS" "$OUTPUT" "$COUNT" "$PROFILE" "$(git -C "$ROOT" rev-parse --short HEAD)" \
    "$EXPORT_BYTES" "$DB_BYTES" "$VERIFIED" "$(nproc)" <<'PY'
import sys
rows_file, output, count, profile, commit, export_bytes, db_bytes, verified, cores = sys.argv[1:10]
count, export_bytes, db_bytes = int(count), int(export_bytes), int(db_bytes)
targets = {"generate > file": 100_000, "export > file": 100_000}
lines = [
    "# Emulator commands",
    "",
    f"Commit {commit}, `--profile {profile}` build, {cores} cores, {count:,} profiles "
    f"(`graphsec generate --seed 1`, imported into an SQLite data directory; the export is "
    f"{export_bytes / 2**20:,.0f} MiB of NDJSON, the database {db_bytes / 2**20:,.0f} MiB). "
    "Written by `bench/emulator.sh`; each command timed once, its output to a file on the same disk "
    "or to /dev/null.",
    "",
    "| command | seconds | profiles/s | MB/s of NDJSON | peak RSS MiB | target |",
    "|---|---:|---:|---:|---:|---|",
]
for line in open(rows_file):
    name, seconds, peak_kb = line.rstrip("\n").split("\t")
    seconds = float(seconds)
    rate = count / seconds
    target = targets.get(name)
    verdict = "" if target is None else f"{target:,}/s: {'met' if rate >= target else 'MISSED'}"
    mb = f"{export_bytes / seconds / 1e6:,.0f}" if name.startswith(("generate", "export")) else ""
    lines.append(f"| `{name}` | {seconds:.2f} | {rate:,.0f} | {mb} | {int(peak_kb) / 1024:,.0f} | {verdict} |")
lines += [
    "",
    f"`export | import | export` (into an empty data directory): {verified}.",
    "",
    "MB/s counts the export's size for both generate and export (a generated line and its export "
    "are the same bytes).",
    "",
]
open(output, "w").write("\n".join(lines))
print("\n".join(lines))
PY
log "wrote $OUTPUT"
