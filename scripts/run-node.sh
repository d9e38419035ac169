#!/usr/bin/env bash
# Run the Node tests (tests/node): @jupyterlab/services, the client library of JupyterLab, drives
# cnote-server (or the real Jupyter Server with CNOTE_NODE_TARGET=jupyter) over REST and the
# kernel WebSocket. Installs tests/node/node_modules with `npm ci` only when it is missing or
# older than package-lock.json, isolates the Jupyter directories from the user's, runs the test
# files one at a time with node's built-in runner and prints the pass/fail counts; the exit code
# is the runner's. Arguments replace the default list of test files, and may carry node --test
# options: scripts/run-node.sh --test-name-pattern=stdin tests/node/execute.test.mjs
#   CNOTE_NODE_TARGET     cnote (default) or jupyter
#   CNOTE_SERVER_BIN      cnote-server binary to test (default build/bin/cnote-server)
#   CNOTE_TEST_TIMEOUT    per-test timeout in seconds (default 180)
#   CNOTE_NODE_DEBUG=1    keep the library's console.debug lines; CNOTE_NODE_KEEP=1 keeps temp dirs
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/tests/node

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "run-node.sh: node and npm are needed (Node.js 20.14 or later)" >&2
    exit 2
fi
ver=$(node -p 'process.versions.node')
IFS=. read -r major minor _ <<<"$ver"
if ((major < 20 || (major == 20 && minor < 14))); then
    echo "run-node.sh: Node.js $ver is too old; 20.14 or later is needed (--test-force-exit)" >&2
    exit 2
fi
target=${CNOTE_NODE_TARGET:-cnote}
if [[ $target == cnote && ! -x ${CNOTE_SERVER_BIN:-$ROOT/build/bin/cnote-server} ]]; then
    echo "run-node.sh: ${CNOTE_SERVER_BIN:-build/bin/cnote-server} missing; run make first" >&2
    exit 2
fi
for k in cnote python3; do
    if [[ ! -f $ROOT/.venv/share/jupyter/kernels/$k/kernel.json ]]; then
        echo "run-node.sh: no $k kernelspec in .venv; run scripts/setup.sh and make install-kernelspec" >&2
        exit 2
    fi
done

# npm ci writes node_modules/.package-lock.json; it being older than the lock means stale deps.
if [[ ! -f $DIR/node_modules/.package-lock.json || $DIR/package-lock.json -nt $DIR/node_modules/.package-lock.json ]]; then
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnote-node.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export JUPYTER_DATA_DIR=$TMP/data
export JUPYTER_RUNTIME_DIR=$TMP/runtime
export JUPYTER_CONFIG_DIR=$TMP/config
export JUPYTER_PLATFORM_DIRS=1
export IPYTHONDIR=$TMP/ipython
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR"

if (($#)); then
    args=("$@")
else
    args=("$DIR"/*.test.mjs)
fi

# The spec reporter's summary ("ℹ pass N") gives the counts; stdout is a pipe, written
# synchronously, so --test-force-exit (needed: disposed lumino Polls leave their timers armed
# for up to a minute) cannot cut it short, as it does a file destination.
set +e
node --test --test-concurrency=1 --test-force-exit \
    --test-timeout=$((${CNOTE_TEST_TIMEOUT:-180} * 1000)) --test-reporter=spec \
    "${args[@]}" 2>&1 | tee "$TMP/out"
rc=${PIPESTATUS[0]}
set -e

count() { sed -n "s/^ℹ $1 \([0-9]*\)$/\1/p" "$TMP/out" | tail -1; }
echo "node ($target): $(count pass) passed, $(count fail) failed, $(count cancelled) cancelled," \
    "$(count skipped) skipped (exit $rc)"
exit $rc
