#!/usr/bin/env bash
# Run the web app's end-to-end tests (tests/browser/cnote-*.test.mjs): headless Debian Chromium
# driven by playwright-core against a fresh cnote-server (build/bin) serving build/web, with the
# real C kernel. Screenshots go to build/artifacts/app-*.png.
#   CNOTE_CHROMIUM        the browser (default /usr/bin/chromium)
#   CNOTE_E2E_TIMEOUT     seconds for the whole run (default 480)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/tests/browser
missing=()
command -v node >/dev/null || missing+=("node")
[[ -x ${CNOTE_CHROMIUM:-/usr/bin/chromium} ]] || missing+=("${CNOTE_CHROMIUM:-/usr/bin/chromium} (Debian: chromium)")
[[ -f $ROOT/build/web/index.html ]] || missing+=("build/web (make web)")
[[ -x $ROOT/build/bin/cnote-server ]] || missing+=("build/bin/cnote-server (make)")
[[ -f $ROOT/.venv/share/jupyter/kernels/cnote/kernel.json ]] || missing+=("the cnote kernelspec in .venv (make install-kernelspec)")
if ((${#missing[@]})); then
    printf 'run-e2e.sh: missing %s\n' "${missing[@]}" >&2
    exit 2
fi
if [[ ! -f $DIR/node_modules/.package-lock.json || $DIR/package-lock.json -nt $DIR/node_modules/.package-lock.json ]]; then
    (cd "$DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnote-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export JUPYTER_DATA_DIR=$TMP/data JUPYTER_RUNTIME_DIR=$TMP/runtime JUPYTER_CONFIG_DIR=$TMP/config
export JUPYTER_PLATFORM_DIRS=1
mkdir -p "$ROOT/build/artifacts" "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR"
cd "$DIR"
rc=0
timeout -k 10 "${CNOTE_E2E_TIMEOUT:-480}" node --test --test-reporter=spec "$@" cnote-*.test.mjs || rc=$?
((rc == 0)) || echo "run-e2e.sh: failed ($rc); screenshots in build/artifacts/app-*.png" >&2
exit "$rc"
