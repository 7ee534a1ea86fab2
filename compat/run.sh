#!/usr/bin/env bash
# Graph SDK compatibility suite: drives a fresh graphsec server with the official Microsoft Graph
# Python beta SDK (msgraph-beta-sdk) and a generic OData client. See README, "Compatibility suite".
#
#   cargo build --release && bash compat/run.sh [pytest args...]
#
# GRAPHSEC_BIN          server binary (default: target/release/graphsec in this repository)
# GRAPHSEC_COMPAT_VENV  virtualenv to use (default: ~/.cache/graphsec/compat-venv-<hash of
#                       requirements.txt>, outside the repository so fresh clones reuse it)
# GRAPHSEC_COMPAT_PYTHON  interpreter that creates the virtualenv (default: python3)
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

HASH=$(sha256sum "$REQUIREMENTS" | cut -c1-16)
VENV=${GRAPHSEC_COMPAT_VENV:-${HOME:?HOME is not set}/.cache/graphsec/compat-venv-$HASH}
PYTHON=${GRAPHSEC_COMPAT_PYTHON:-python3}
READY=$VENV/.graphsec-compat-ready

install_venv() {
  echo "compat: creating virtualenv $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"
  touch "$READY"  # written last: an interrupted install is redone on the next run
}

if [ ! -f "$READY" ]; then
  mkdir -p "$(dirname "$VENV")"
  if command -v flock >/dev/null 2>&1; then
    # one installer at a time; a concurrent run waits, then finds the venv ready
    exec 9>"$VENV.lock"
    flock 9
    [ -f "$READY" ] || install_venv
    flock -u 9
    exec 9>&-
  else
    install_venv
  fi
fi

cd "$COMPAT_DIR"
status=0
# No __pycache__ or .pytest_cache in the work tree; the whole run is bounded in time.
PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=15 300 \
  "$VENV/bin/python" -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "compat: pytest collected no tests" >&2
  exit 1
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "compat: the suite exceeded its time limit" >&2
fi
exit "$status"
