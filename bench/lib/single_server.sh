# Shared by the single-server benchmarks (ablation.sh, audit_soak.sh): a work directory on the
# repository's file system (sizes and fsyncs are those of a real data directory), PROFILES
# profiles imported into it, one graphsec server at a time, and a PATCH load. Source it after
# setting BENCH_DIR, ROOT, PROFILES and BUILD.

TENANT=11111111-2222-3333-4444-555555555555
COLLECTION=/beta/security/userSecurityProfiles
command -v wrk > /dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$ROOT/target"
WORK=$(mktemp -d -p "$ROOT/target" bench.XXXXXX)
SERVER_PID=

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# stop_server: SIGTERM, then wait until it is gone (the next server needs the data directory's lock).
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do [[ -e /proc/$SERVER_PID ]] || break; sleep 0.1; done
    SERVER_PID=
}
trap 'stop_server; rm -rf "$WORK"' EXIT

if [[ $BUILD == 1 ]]; then (cd "$ROOT" && cargo build --profile dist -q -p graphsec); fi
GRAPHSEC=$ROOT/target/dist/graphsec
DATA=$WORK/data
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
python3 "$BENCH_DIR/lib/gen_profiles.py" --count "$PROFILES" --tenant "$TENANT" --ndjson "$WORK/profiles.ndjson"
# import and token need a data directory graphsec made: migrate makes the database, the first
# serve the signing key.
"$GRAPHSEC" migrate --data-dir "$DATA" > /dev/null
"$GRAPHSEC" import --data-dir "$DATA" "$WORK/profiles.ndjson" > /dev/null
TOKEN=

# serve ARGS...: graphsec on the data directory, as bench/run.sh starts it, plus ARGS.
serve() {
    python3 "$BENCH_DIR/lib/launch.py" --url "$URL/healthz" --pid-file "$WORK/pid" --log "$WORK/server.log" \
        --timeout 60 -- "$GRAPHSEC" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --log-level warn \
        --rate-limit 0 "$@" > /dev/null || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
    SERVER_PID=$(cat "$WORK/pid")
    if [[ -z $TOKEN ]]; then TOKEN=$("$GRAPHSEC" token --data-dir "$DATA" --tenant "$TENANT" --ttl 6h); fi
}

# patch_load SECONDS: PATCHes of random profiles with wrk -t2 -c64; prints the BENCH_RESULT line
# and fails if any PATCH did not answer 200.
patch_load() {
    local line
    line=$(env BENCH_MODE=patch BENCH_BASE="$COLLECTION" BENCH_N="$PROFILES" BENCH_TOKEN="$TOKEN" \
        BENCH_TENANT="$TENANT" BENCH_NONCE="p$RANDOM$RANDOM" wrk -t2 -c64 -d"${1}s" --timeout 10s \
        -s "$BENCH_DIR/wrk/scenario.lua" "$URL" | grep '^BENCH_RESULT ')
    [[ $(field bad_status "$line") == 0 ]] || { echo "PATCHes failed: $line" >&2; exit 1; }
    echo "$line"
}

# field NAME LINE: one value of a BENCH_RESULT line.
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<< "$2"; }
