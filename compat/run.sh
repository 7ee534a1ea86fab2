#!/usr/bin/env bash
# Graph SDK compatibility suite: drives a fresh graphsec server with the official Microsoft Graph
# Python beta SDK (msgraph-beta-sdk) and a generic OData client, then with Microsoft's JavaScript
# Graph client (@microsoft/microsoft-graph-client, compat/js). See README, "Compatibility suite".
#
#   cargo build --release && bash compat/run.sh [pytest args...]   # the arguments go to pytest only
#
# Both parts run, each bounded in time; the script fails if either fails.
#
# GRAPHSEC_BIN          server binary (default: target/release/graphsec in this repository)
# GRAPHSEC_COMPAT_SUITES  which parts to run (default: "python js")
# GRAPHSEC_COMPAT_VENV  virtualenv to use (default: ~/.cache/graphsec/compat-venv-<hash of
#                       requirements.txt>, outside the repository so fresh clones reuse it)
# GRAPHSEC_COMPAT_PYTHON  interpreter that creates the virtualenv (default: python3)
# GRAPHSEC_COMPAT_NODE_DEPS  directory whose node_modules the JavaScript part uses (default:
#                       ~/.cache/graphsec/compat-node-<hash of compat/js/package*.json>), filled
#                       by `npm ci` from compat/js/package-lock.json
set -euo pipefail

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$COMPAT_DIR")
REQUIREMENTS=$COMPAT_DIR/requirements.txt

# The binary, made absolute against the caller's directory before we change directory.
BIN=${GRAPHSEC_BIN:-$ROOT/target/release/graphsec}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
if [ ! -x "$BIN" ]; then
  echo "compat: graphsec binary not found at $BIN (run 'cargo build --release' or set GRAPHSEC_BIN)" >&2
  exit 1
fi
export GRAPHSEC_BIN=$BIN

SUITES=${GRAPHSEC_COMPAT_SUITES:-python js}
CACHE=${HOME:?HOME is not set}/.cache/graphsec

# Runs the install function $2 unless the marker file $1 exists; the marker is written last, so
# an interrupted install is redone on the next run, and one installer runs at a time: a
# concurrent run waits, then finds the marker.
install_once() {
  local ready=$1 install=$2 status=0
  [ -f "$ready" ] && return 0
  mkdir -p "$(dirname "$ready")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$(dirname "$ready").lock"
    flock 9
  fi
  [ -f "$ready" ] || { "$install" && touch "$ready"; } || status=$?
  if command -v flock >/dev/null 2>&1; then
    flock -u 9
    exec 9>&-
  fi
  return "$status"
}

# Reports a part's exit status; 124/137 come from `timeout`.
report() {
  local part=$1 status=$2
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "compat: the $part suite exceeded its time limit" >&2
  elif [ "$status" -ne 0 ]; then
    echo "compat: the $part suite failed (exit $status)" >&2
  fi
}

# --- Python: msgraph-beta-sdk and python-odata ------------------------------------------------
run_python() {
  local hash status=0
  hash=$(sha256sum "$REQUIREMENTS" | cut -c1-16)
  VENV=${GRAPHSEC_COMPAT_VENV:-$CACHE/compat-venv-$hash}
  PYTHON=${GRAPHSEC_COMPAT_PYTHON:-python3}
  install_once "$VENV/.graphsec-compat-ready" install_venv || return 1
  # No __pycache__ or .pytest_cache in the work tree; the whole run is bounded in time.
  (cd "$COMPAT_DIR" && PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=15 300 \
    "$VENV/bin/python" -m pytest -q "$@") || status=$?
  if [ "$status" -eq 5 ]; then
    echo "compat: pytest collected no tests" >&2
    status=1
  fi
  return "$status"
}

install_venv() {
  echo "compat: creating virtualenv $VENV" >&2
  "$PYTHON" -m venv "$VENV" &&
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"
}

# --- JavaScript: @microsoft/microsoft-graph-client ----------------------------------------------
JS_DIR=$COMPAT_DIR/js

run_js() {
  local hash tmp status=0
  if ! command -v npm >/dev/null 2>&1 ||
    ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
    echo "compat: Node.js 20 or later, with npm, is needed for compat/js" >&2
    return 1
  fi
  hash=$(cat "$JS_DIR/package.json" "$JS_DIR/package-lock.json" | sha256sum | cut -c1-16)
  NODE_DEPS=${GRAPHSEC_COMPAT_NODE_DEPS:-$CACHE/compat-node-$hash}
  install_once "$NODE_DEPS/.graphsec-compat-ready" install_node_deps || return 1
  # One development certificate for every server of the run: Node reads NODE_EXTRA_CA_CERTS
  # once at start-up, so it must exist before the test processes do. Verification stays on.
  # Everything the run writes (certificate, servers' data) is under $tmp, removed afterwards
  # even when the time limit cut the tests short.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/graphsec-compat-js.XXXXXX")
  "$BIN" cert --out "$tmp/tls" --host localhost >/dev/null || { rm -rf "$tmp"; return 1; }
  (cd "$JS_DIR" && env -u NODE_TLS_REJECT_UNAUTHORIZED -u NODE_OPTIONS TMPDIR="$tmp" \
    NODE_PATH="$NODE_DEPS/node_modules" NODE_EXTRA_CA_CERTS="$tmp/tls/cert.pem" \
    GRAPHSEC_COMPAT_TLS_DIR="$tmp/tls" \
    timeout --kill-after=15 120 node --test --test-reporter=spec --test-timeout=60000 ./*.test.js) ||
    status=$?
  rm -rf "$tmp"
  return "$status"
}

install_node_deps() {
  echo "compat: installing compat/js dependencies into $NODE_DEPS" >&2
  cp "$JS_DIR/package.json" "$JS_DIR/package-lock.json" "$NODE_DEPS/" &&
    (cd "$NODE_DEPS" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
}

overall=0
for part in $SUITES; do
  status=0
  case $part in
    python) run_python "$@" || status=$? ;;
    js) run_js || status=$? ;;
    *) echo "compat: unknown suite '$part' in GRAPHSEC_COMPAT_SUITES (python, js)" >&2; status=2 ;;
  esac
  report "$part" "$status"
  [ "$status" -eq 0 ] || overall=$status
done
exit "$overall"
