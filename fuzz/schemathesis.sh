#!/usr/bin/env bash
# Property-based fuzzing of the documented API (GET /openapi.json) with schemathesis, against a
# fresh server on 127.0.0.1 with a valid bearer token. Fails on any 5xx, any response that
# contradicts the OpenAPI document, a cross-tenant leak, or a cross-tenant write.
#
#   fuzz/schemathesis.sh                      default run (~3 minutes once the venv exists)
#   fuzz/schemathesis.sh --max-time 600       longer
#   fuzz/schemathesis.sh --seed 42            reproduce a run (the seed is printed at the end)
#   fuzz/schemathesis.sh -- --include-method PATCH     extra arguments for `schemathesis run`
#
# Environment: GRAPHSEC_BIN (default target/release/graphsec), GRAPHSEC_FUZZ_VENV (default
# ~/.cache/graphsec/fuzz-venv-<hash of requirements.txt>), GRAPHSEC_FUZZ_ARTIFACTS (default
# fuzz/artifacts, git-ignored: logs and reports land in its schemathesis/ folder).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAX_TIME=150        # schemathesis' own budget (fuzzing and stateful phases repeat until it is spent)
MAX_EXAMPLES=100    # test cases per operation and phase
WORKERS=1
SEED=
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
CHECKS_EXTRA=graphsec_no_foreign_data,graphsec_graph_headers
KEEP=0
EXTRA=()

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF
options:
  --max-time S        schemathesis time budget in seconds (default $MAX_TIME; a hard cap of S+120 s kills it)
  --max-examples N    test cases per operation (default $MAX_EXAMPLES)
  --seed N            hypothesis seed (default: random, printed)
  --workers N         concurrent schemathesis workers (default $WORKERS)
  --checks LIST       schemathesis checks (default $CHECKS)
  --no-extra-checks   skip the graphsec checks ($CHECKS_EXTRA)
  --keep              keep the server's data directory and log
EOF
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --max-time) MAX_TIME=$2; shift ;;
        --max-examples) MAX_EXAMPLES=$2; shift ;;
        --seed) SEED=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --checks) CHECKS=$2; shift ;;
        --no-extra-checks) CHECKS_EXTRA= ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "schemathesis.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ -n $SEED ]] || SEED=$(python3 -c 'import random; print(random.randrange(2**31))')

resolve_bin

# --- venv, cached outside the repository, keyed on requirements.txt and the Python version ----
REQ=$FUZZ_DIR/requirements.txt
HASH=$( (cat "$REQ"; python3 -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)
VENV=${GRAPHSEC_FUZZ_VENV:-$HOME/.cache/graphsec/fuzz-venv-$HASH}
if [[ ! -x $VENV/bin/schemathesis || ! -f $VENV/.installed-$HASH ]]; then
    log "creating the fuzzing venv in $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
    touch "$VENV/.installed-$HASH"
fi

# --- a fresh server and its data ------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-schemathesis.XXXXXX")
OUT=$ARTIFACTS/schemathesis
mkdir -p "$OUT"
rm -f "$OUT"/har-*.json "$OUT"/junit-*.xml "$OUT"/server.log
cleanup() {
    local code=$?
    stop_server
    if [[ $KEEP -eq 1 || $code -ne 0 ]]; then
        cp "$SERVER_LOG" "$OUT/server.log" 2>/dev/null || true
    fi
    if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server "$WORK"
TOKEN_A=$(mint "$TENANT_A")
TOKEN_B=$(mint "$TENANT_B")

MARKER_B=SECRETB$(python3 -c 'import secrets; print(secrets.token_hex(6))')
seed() { python3 "$FUZZ_DIR/seed.py" --base-url "$BASE_URL" "$@"; }
STABLE=$(seed --token "$TOKEN_A" --prefix stable --count 15 --marker MARKA)
DELETABLE=$(seed --token "$TOKEN_A" --prefix gone --count 40 --marker MARKA)
FOREIGN=$(seed --token "$TOKEN_B" --prefix foreign --count 8 --marker "$MARKER_B")
cat >"$WORK/ids.json" <<EOF
{"stable": $STABLE, "deletable": $DELETABLE, "foreign": $FOREIGN, "foreign_marker": "$MARKER_B"}
EOF
snapshot_b() {
    PYTHONPATH=$FUZZ_DIR python3 -c 'import json, sys; from seed import snapshot
print(json.dumps(snapshot(sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))["foreign"]), sort_keys=True))' \
        "$BASE_URL" "$TOKEN_B" "$WORK/ids.json"
}
BEFORE=$(snapshot_b)
log "seeded 15 stable + 40 deletable profiles for tenant A and 8 for tenant B"

# --- schemathesis ---------------------------------------------------------------------------------
ALL_CHECKS=$CHECKS${CHECKS_EXTRA:+,$CHECKS_EXTRA}
log "schemathesis: checks $ALL_CHECKS; max-examples $MAX_EXAMPLES; max-time ${MAX_TIME}s; seed $SEED"
# The test-control API (tag testControl, /_graphsec/) answers only admin tokens and empties the
# data on reset, under the fuzzer's feet; its integration tests (tests/it/control.rs) cover it.
CMD=("$VENV/bin/schemathesis" --config-file "$FUZZ_DIR/schemathesis.toml" run "$BASE_URL/openapi.json"
    --header "Authorization: Bearer $TOKEN_A"
    --exclude-tag testControl
    --checks "$ALL_CHECKS"
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --seed "$SEED" --workers "$WORKERS"
    --request-timeout 15 --generation-database none
    --report junit,har --report-dir "$OUT" --no-color
    "${EXTRA[@]}")
set +e
(cd "$WORK" && SCHEMATHESIS_HOOKS=$FUZZ_DIR/schemathesis_hooks.py GRAPHSEC_ST_IDS=$WORK/ids.json \
    timeout --signal=TERM --kill-after=10 $((MAX_TIME + 120)) "${CMD[@]}") 2>&1 | tee "$OUT/run.log"
ST_CODE=${PIPESTATUS[0]}
set -e

# --- after the run: the server is healthy and tenant B's profiles are untouched ------------------
FAILED=0
if [[ $ST_CODE -eq 124 || $ST_CODE -eq 137 ]]; then
    log "FAIL: schemathesis exceeded the hard cap of $((MAX_TIME + 120)) s"; FAILED=1
elif [[ $ST_CODE -ne 0 ]]; then
    log "FAIL: schemathesis reported failures (exit $ST_CODE); reproduce with: fuzz/schemathesis.sh --seed $SEED"
    FAILED=1
fi
if ! alive "$SERVER_PID"; then
    log "FAIL: the server died during the run"; tail -50 "$SERVER_LOG" >&2; FAILED=1
elif ! python3 -c 'import sys,urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1]+"/readyz", timeout=5).status != 200)' "$BASE_URL"; then
    log "FAIL: the server is not ready after the run"; FAILED=1
else
    AFTER=$(snapshot_b)
    if [[ $BEFORE != "$AFTER" ]]; then
        log "FAIL: tenant B's profiles changed although only tenant A's token was used"
        diff <(echo "$BEFORE" | python3 -m json.tool) <(echo "$AFTER" | python3 -m json.tool) >&2 || true
        FAILED=1
    fi
    log "server RSS after the run: $(server_rss_kib) KiB"
fi
stop_server
if [[ $SERVER_NEEDED_KILL -eq 1 ]]; then
    log "FAIL: the server did not stop within 10 s of SIGTERM (graceful shutdown is stuck)"; FAILED=1
fi
if grep -qiE 'panicked|panic' "$SERVER_LOG"; then
    log "FAIL: the server log shows a panic:"; grep -iE -m5 'panicked|panic' "$SERVER_LOG" >&2; FAILED=1
fi
log "reports: $OUT (run.log, junit, HAR)"
if [[ $FAILED -ne 0 ]]; then exit 1; fi
log "schemathesis.sh: PASS (seed $SEED)"
