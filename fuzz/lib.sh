# Shared helpers for fuzz/*.sh: find the binary, start a fresh server on a free loopback port,
# mint tokens, stop only the server this script started (by PID). Source it; do not run it.
# shellcheck shell=bash

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
ARTIFACTS=${GRAPHSEC_FUZZ_ARTIFACTS:-$FUZZ_DIR/artifacts}   # git-ignored (**/fuzz/artifacts)

# Tenants used by both fuzzers.
TENANT_A=${TENANT_A:-aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa}
TENANT_B=${TENANT_B:-bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb}
TENANT_C=${TENANT_C:-cccccccc-3333-4333-8333-cccccccccccc}

SERVER_PID=
SERVER_NEEDED_KILL=0
SERVER_DIR=
SERVER_LOG=
BASE_URL=

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 2; }

resolve_bin() {
    GRAPHSEC_BIN=${GRAPHSEC_BIN:-target/release/graphsec}
    case $GRAPHSEC_BIN in
        /*) ;;
        *) [[ -x $GRAPHSEC_BIN ]] || GRAPHSEC_BIN=$ROOT/$GRAPHSEC_BIN ;;
    esac
    [[ -x $GRAPHSEC_BIN ]] || die "no server binary at $GRAPHSEC_BIN (build with 'cargo build --release' or set GRAPHSEC_BIN)"
    GRAPHSEC_BIN=$(cd "$(dirname "$GRAPHSEC_BIN")" && pwd)/$(basename "$GRAPHSEC_BIN")
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# start_server WORKDIR [extra serve flags...]: fresh data dir, --rate-limit 0, waits for /healthz.
start_server() {
    local work=$1; shift
    SERVER_DIR=$work/data
    SERVER_LOG=$work/server.log
    mkdir -p "$SERVER_DIR"
    local port
    port=$(free_port)
    BASE_URL=http://127.0.0.1:$port
    "$GRAPHSEC_BIN" serve --listen "127.0.0.1:$port" --data-dir "$SERVER_DIR" --log-level warn \
        --rate-limit 0 "$@" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        if ! alive "$SERVER_PID"; then
            cat "$SERVER_LOG" >&2
            die "the server exited during start"
        fi
        if python3 - "$BASE_URL/healthz" <<'PY' 2>/dev/null; then
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200 else 1)
PY
            log "server pid $SERVER_PID on $BASE_URL (data $SERVER_DIR)"
            return 0
        fi
        sleep 0.1
    done
    die "the server did not become healthy in 10 s"
}

# Stops the server this script started, and only it.
stop_server() {
    local pid=$SERVER_PID i
    [[ -n $pid ]] || return 0
    SERVER_PID=
    alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    log "server pid $pid ignored SIGTERM for 10 s; killing it"
    SERVER_NEEDED_KILL=1
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

server_rss_kib() {
    [[ -n $SERVER_PID ]] && awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0
}

# mint TENANT [SCOPES] [extra token flags]
mint() {
    local tenant=$1 scopes=${2:-SecurityEvents.ReadWrite.All}
    shift 2 || shift $#
    "$GRAPHSEC_BIN" token --data-dir "$SERVER_DIR" --tenant "$tenant" --scopes "$scopes" --ttl 2h "$@"
}
