#!/usr/bin/env bash
# Run the Python-driven integration tests (tests/integration) against the built kernel.
# `make integration` builds cnote and installs its kernelspec into .venv/share/jupyter/kernels/cnote
# first; this script only points Jupyter at that prefix, isolates the runtime and data dirs from
# the user's, and runs pytest with a per-test timeout. Extra arguments go to pytest
# (e.g. scripts/run-integration.sh -k interrupt -x).
#   CNOTE_TEST_TIMEOUT  per-test timeout in seconds (default 120)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
if [[ ! -x $PY ]]; then
    echo "run-integration.sh: $PY missing; run scripts/setup.sh (or make setup) first" >&2
    exit 2
fi
if [[ ! -f $ROOT/.venv/share/jupyter/kernels/cnote/kernel.json ]]; then
    echo "run-integration.sh: no cnote kernelspec in .venv; run make install-kernelspec" >&2
    exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnote-it.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# JUPYTER_PATH comes first in the kernelspec search, before ~/.local/share/jupyter; the data
# dir is made empty so no user-level "cnote" kernelspec can shadow the one under test.
export JUPYTER_PATH=$ROOT/.venv/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}
export JUPYTER_DATA_DIR=$TMP/data
export JUPYTER_RUNTIME_DIR=$TMP/runtime
export JUPYTER_CONFIG_DIR=$TMP/config
export JUPYTER_PLATFORM_DIRS=1
export IPYTHONDIR=$TMP/ipython
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR"

exec "$PY" -m pytest -q -p no:cacheprovider --timeout="${CNOTE_TEST_TIMEOUT:-120}" \
    tests/integration "$@"
