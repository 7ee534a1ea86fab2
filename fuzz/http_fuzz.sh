#!/usr/bin/env bash
# Raw HTTP surface fuzzing: starts a fresh server on 127.0.0.1, mints tokens for three tenants
# (read-write, read-only, no-permission and application tokens), runs fuzz/http_fuzz.py (which
# seeds marker profiles, fuzzes, then checks health, sentinels and tenant isolation), stops the
# server, and exits non-zero on any failure.
#
#   fuzz/http_fuzz.sh                          20,000 requests or 3 minutes, random seed
#   fuzz/http_fuzz.sh --seed 7                 reproduce a run
#   fuzz/http_fuzz.sh --seed 7 --only 1234     re-send one request of that run to a fresh server
#   fuzz/http_fuzz.sh --seed 7 --requests 1235 --workers 1   replay the run up to it (state-dependent failures)
#   fuzz/http_fuzz.sh --requests 100000 --duration 900
#
# Any other option goes to http_fuzz.py (see python3 fuzz/http_fuzz.py --help).
# Environment: GRAPHSEC_BIN (default target/release/graphsec), GRAPHSEC_FUZZ_ARTIFACTS (default
# fuzz/artifacts, git-ignored: failing requests and the server log land in its http/ folder).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
ARGS=("$@")
SEED=
for ((i = 0; i < ${#ARGS[@]}; i++)); do
    [[ ${ARGS[$i]} == --seed ]] && SEED=${ARGS[$((i + 1))]:-}
done
if [[ -z $SEED ]]; then
    SEED=$(python3 -c 'import random; print(random.randrange(2**31))')
    ARGS+=(--seed "$SEED")
fi

resolve_bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-http-fuzz.XXXXXX")
OUT=$ARTIFACTS/http
mkdir -p "$OUT"
rm -f "$OUT"/request-*.http "$OUT"/failures.json
cleanup() {
    local code=$?
    stop_server
    cp "$SERVER_LOG" "$OUT/server.log" 2>/dev/null || true
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server "$WORK"
python3 - "$WORK/tokens.json" <<EOF
import json, subprocess, sys
def token(tenant, scopes="SecurityEvents.ReadWrite.All", app=False):
    cmd = ["$GRAPHSEC_BIN", "token", "--data-dir", "$SERVER_DIR", "--tenant", tenant, "--scopes", scopes, "--ttl", "2h"]
    return subprocess.check_output(cmd + (["--app"] if app else [])).decode().strip()
json.dump({
    "A_rw": token("$TENANT_A"), "A_ro": token("$TENANT_A", "SecurityEvents.Read.All"),
    "A_app": token("$TENANT_A", app=True), "A_none": token("$TENANT_A", "User.Read"),
    "B_rw": token("$TENANT_B"), "B_ro": token("$TENANT_B", "SecurityEvents.Read.All"),
    "C_rw": token("$TENANT_C"),
}, open(sys.argv[1], "w"))
EOF

set +e
timeout --signal=TERM --kill-after=10 3600 python3 "$FUZZ_DIR/http_fuzz.py" --base-url "$BASE_URL" \
    --tokens "$WORK/tokens.json" --signing-key-file "$SERVER_DIR/signing-key" \
    --server-pid "$SERVER_PID" --failures-dir "$OUT" "${ARGS[@]}" 2>&1 | tee "$OUT/run.log"
CODE=${PIPESTATUS[0]}
set -e
if ! alive "$SERVER_PID"; then
    log "FAIL: the server is not running any more"; tail -30 "$SERVER_LOG" >&2; CODE=1
fi
stop_server
if [[ $SERVER_NEEDED_KILL -eq 1 ]]; then
    log "FAIL: the server did not stop within 10 s of SIGTERM (graceful shutdown is stuck)"; CODE=1
fi
if grep -qiE 'panicked|panic' "$SERVER_LOG"; then
    log "FAIL: the server log shows a panic:"; grep -iE -m5 'panicked|panic' "$SERVER_LOG" >&2; CODE=1
fi
if [[ $CODE -ne 0 ]]; then
    log "http_fuzz.sh: FAIL (seed $SEED); failing requests in $OUT, server log $OUT/server.log"
    exit 1
fi
log "http_fuzz.sh: PASS (seed $SEED)"
