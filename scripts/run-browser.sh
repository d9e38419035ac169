#!/usr/bin/env bash
# Run the browser test (tests/browser): JupyterLab from .venv in gateway mode against a freshly
# started cnote-server, driven in headless Debian Chromium by playwright-core. Installs the pinned
# npm packages of tests/browser (npm ci) when node_modules is missing or older than
# package-lock.json, then runs the test; the exit code is the test's. Leaves
# build/artifacts/jupyterlab-gateway.png and .log.
#   CNOTE_BROWSER_MODE  gateway (default) or local (JupyterLab starts the kernel itself, no cnote-server)
#   CNOTE_CHROMIUM      the browser (default /usr/bin/chromium, Debian's `chromium` package)
#   CNOTE_BROWSER_TIMEOUT  seconds for the whole run after npm ci (default 180)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/tests/browser
CHROMIUM=${CNOTE_CHROMIUM:-/usr/bin/chromium}

missing=()
command -v node >/dev/null || missing+=("node (Debian: nodejs)")
command -v npm >/dev/null || missing+=("npm")
[[ -x $CHROMIUM ]] || missing+=("$CHROMIUM (Debian: chromium)")
[[ -x $ROOT/.venv/bin/jupyter-lab ]] || missing+=(".venv/bin/jupyter-lab (PyPI: jupyterlab)")
[[ -f $ROOT/.venv/share/jupyter/kernels/cnote/kernel.json ]] || missing+=("the cnote kernelspec in .venv (make install-kernelspec)")
if [[ ${CNOTE_BROWSER_MODE:-gateway} == gateway && ! -x $ROOT/build/bin/cnote-server ]]; then
    missing+=("build/bin/cnote-server (make)")
fi
if ((${#missing[@]})); then
    printf 'run-browser.sh: missing %s\n' "${missing[@]}" >&2
    exit 2
fi

# npm ci when node_modules does not match package-lock.json (a stamp holds the lock's hash)
stamp=$DIR/node_modules/.cnote-lock.sha256
want=$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    (cd "$DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi

mkdir -p "$ROOT/build/artifacts"
cd "$DIR"
rc=0
timeout -k 10 "${CNOTE_BROWSER_TIMEOUT:-180}" \
    node --test --test-reporter=spec jupyterlab-gateway.test.mjs || rc=$?
if ((rc != 0)); then
    echo "run-browser.sh: failed ($rc); see build/artifacts/jupyterlab-gateway.log and .png" >&2
fi
exit "$rc"
