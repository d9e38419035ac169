#!/usr/bin/env bash
# Install what building and testing cnote needs, idempotently and fast when it is all there:
#   1. Debian packages (only those missing; needs root, else prints the apt-get command and fails),
#   2. a Python venv in .venv with scripts/requirements-test.txt (reinstalled only when that file's
#      sha256 differs from the stamp .venv/.requirements-test.sha256),
#   2b. NVIDIA's CUDA 13 wheels of scripts/requirements-cuda.txt in the same venv, .venv/cuda
#      pointing at the toolkit they form (nvcc, headers, runtime, cuBLAS; stamp
#      .venv/.requirements-cuda.sha256), so the tests compile %%cuda cells without a GPU,
#   3. the ipykernel "python3" kernelspec inside .venv (the benchmark compares against it).
# It does not build cnote or install its kernelspec: `make install-kernelspec` does that.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "${t#0}"; }
T0=$(now_us)

stage() { # stage NAME START_US -> one line with the elapsed seconds
    local d=$(($(now_us) - $2))
    printf '  SETUP   %-32s %4d.%01ds\n' "$1" $((d / 1000000)) $((d % 1000000 / 100000))
}

# ---- 1. Debian packages --------------------------------------------------------------------------
t=$(now_us)
DEB_PKGS=(build-essential pkg-config libzmq3-dev libjansson-dev libssl-dev libcmocka-dev clang
    clang-format-14 libclang-rt-14-dev libopenblas-dev liblapacke-dev manpages-dev man-db python3-venv
    libwebsockets-dev libuv1-dev libsqlite3-dev libcurl4-openssl-dev libyaml-dev libsodium-dev wrk openssl chromium)
# Node.js: the machine's own (any >= 20) when there is one, else Debian's
command -v node >/dev/null || DEB_PKGS+=(nodejs npm)
missing=()
for p in "${DEB_PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    apt_cmd=(apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}")
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup.sh: missing Debian packages: ${missing[*]}" >&2
        echo "setup.sh: run as root:  apt-get update && ${apt_cmd[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -o DPkg::Lock::Timeout=600 >/dev/null
    "${apt_cmd[@]}" >/dev/null
    stage "apt (${#missing[@]} installed)" "$t"
else
    stage "apt (all present)" "$t"
fi

# ---- 2. Python venv ------------------------------------------------------------------------------
t=$(now_us)
VENV=$ROOT/.venv
REQ=$ROOT/scripts/requirements-test.txt
STAMP=$VENV/.requirements-test.sha256
if ! "$VENV/bin/python" -c '' 2>/dev/null; then # missing, or its base interpreter is gone
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    rm -f "$STAMP"
fi
want=$(sha256sum "$REQ" | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [[ $want != "$have" ]]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
    echo "$want" >"$STAMP"
    stage "venv (requirements installed)" "$t"
else
    stage "venv (up to date)" "$t"
fi

# ---- 2b. cuda wheels: nvcc, runtime and cuBLAS (CUDA 13) for compiling %%cuda cells -------------
# --no-deps: cuBLAS declares NVRTC, which only its JIT paths load; the four compiler wheels are
# pinned together. They form a toolkit tree under site-packages/nvidia/cu13; .venv/cuda points to
# it (the tests' CNOTE_CUDA_HOME). Skipped (with a note) where PyPI cannot be reached: cnote
# builds and runs without CUDA, only the CUDA tests need it.
t=$(now_us)
CUDA_REQ=$ROOT/scripts/requirements-cuda.txt
CUDA_STAMP=$VENV/.requirements-cuda.sha256
want=$(sha256sum "$CUDA_REQ" | cut -d' ' -f1)
have=$(cat "$CUDA_STAMP" 2>/dev/null || true)
if [[ $want != "$have" || ! -x $VENV/cuda/bin/nvcc ]]; then
    if "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$CUDA_REQ"; then
        cu13=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
        ln -sfn "$cu13" "$VENV/cuda"
        echo "$want" >"$CUDA_STAMP"
        stage "cuda wheels (installed)" "$t"
    else
        echo "setup.sh: could not install $CUDA_REQ: CUDA cells will not compile in the tests" >&2
        stage "cuda wheels (FAILED)" "$t"
    fi
else
    stage "cuda wheels (up to date)" "$t"
fi

# ---- 3. ipykernel kernelspec for the benchmark ---------------------------------------------------
t=$(now_us)
# ipykernel's wheel ships a kernel.json with argv[0] "python"; `ipykernel install` rewrites it
# with this venv's interpreter, which is what we check for.
if ! grep -qF "\"$VENV/bin/python" "$VENV/share/jupyter/kernels/python3/kernel.json" 2>/dev/null; then
    "$VENV/bin/python" -m ipykernel install --prefix "$VENV" >/dev/null
    stage "python3 kernelspec (installed)" "$t"
else
    stage "python3 kernelspec (present)" "$t"
fi
# ---- 4. npm packages of the Node and browser tests (from their package-lock.json) --------------
t=$(now_us)
npm_done=0
for d in web tests/node tests/browser; do
    # npm ci writes node_modules/.package-lock.json: older than the lock means stale
    if [[ ! $ROOT/$d/node_modules/.package-lock.json -nt $ROOT/$d/package-lock.json ]]; then
        (cd "$ROOT/$d" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
        npm_done=$((npm_done + 1))
    fi
done
stage "npm ($npm_done installed)" "$t"
stage "total" "$T0"
