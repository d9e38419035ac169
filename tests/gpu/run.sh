#!/usr/bin/env bash
# Every GPU check of cnote, in one script, for a machine with an NVIDIA GPU, its CUDA toolkit
# and a C compiler: no package registry, no ZeroMQ, jansson, OpenSSL or libwebsockets.
#
# It builds, from this source tree and with cc only, the state process cnote-exec
# (kernel/exec) and tests/gpu/driver.c, which drives the C engine (kernel/engine) directly:
# cells are generated, compiled (cc; nvcc for %%cuda cells), linked and run in cnote-exec
# exactly as cnote-kernel does it, minus the Jupyter front. Checks, one PASS/FAIL line each:
#   vector_add             a %%cuda kernel and host function called from a C cell; main() runs
#   device_memory_kept     cudaMalloc in one cell, filled and scaled by kernels of later cells
#                          (one names the C cell's global), read back in another
#   cublas_sgemm           cuBLAS from a plain C cell (#include <cublas_v2.h>) against the CPU
#   bad_launch_error       an invalid launch becomes a CUDAError of the cell; the GPU stays usable
#   illegal_address_error  a bad device write: CUDAError saying the context is lost; C goes on
#
# The toolkit is found like the kernel finds it: $CNOTE_NVCC, $CNOTE_CUDA_HOME, $CUDA_HOME,
# $CUDA_PATH, nvcc on PATH, /usr/local/cuda. Extra nvcc flags: $CNOTE_NVCC_FLAGS (a host
# compiler nvcc does not know is allowed automatically). It takes well under 3 minutes
# (about 10 nvcc compiles); the driver is stopped after 170 s.
#
# Exit status: 0 every check passed; 1 a check failed; 2 no usable GPU (no driver, no
# device: the message says which; the first check's cells are still compiled, so the
# toolchain is exercised); 3 setup failed (no nvcc, no C compiler, the build failed);
# 124 the checks ran out of time.
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
CC=${CC:-cc}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/cnote-gpu.XXXXXX")
if [[ ${CNOTE_GPU_KEEP:-0} == 1 ]]; then
    echo "work files kept in $OUT"
else
    trap 'rm -rf "$OUT"' EXIT
fi

setup_fail() {
    echo "FAIL setup: $*"
    exit 3
}

command -v "$CC" >/dev/null || setup_fail "no C compiler ($CC)"
CFLAGS=(-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra)

echo "== building cnote-exec and the driver with $CC"
"$CC" "${CFLAGS[@]}" -rdynamic kernel/exec/*.c -Wl,--no-as-needed -lm -ldl -lpthread \
    -Wl,--as-needed -o "$OUT/cnote-exec" || setup_fail "cannot build cnote-exec"
"$CC" "${CFLAGS[@]}" -Iproto -Ikernel/engine -Ikernel/exec tests/gpu/driver.c \
    kernel/engine/ck_cuda.c kernel/engine/ck_sess.c kernel/engine/ck_cell.c kernel/engine/ck_lex.c \
    kernel/engine/ck_job.c kernel/engine/ck_libs.c proto/jp_buf.c proto/jp_err.c proto/jp_alloc.c \
    proto/jp_time.c -o "$OUT/driver" || setup_fail "cannot build tests/gpu/driver.c"

# nvcc refuses host compilers newer than it knows; the cells are plain enough to allow them
NVCC=${CNOTE_NVCC:-}
if [[ -z $NVCC ]]; then
    for d in "${CNOTE_CUDA_HOME:-}" "${CUDA_HOME:-}" "${CUDA_PATH:-}"; do
        if [[ -n $d && -x $d/bin/nvcc ]]; then
            NVCC=$d/bin/nvcc
            break
        fi
    done
fi
[[ -z $NVCC ]] && NVCC=$(command -v nvcc || true)
[[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
[[ -z $NVCC ]] && setup_fail "nvcc not found (set CUDA_HOME or put the toolkit's bin on PATH)"
"$NVCC" --version | tail -n 2
printf '__global__ void k(void) {}\n' >"$OUT/probe.cu"
if ! probe=$("$NVCC" -c -o "$OUT/probe.o" "$OUT/probe.cu" 2>&1); then
    if grep -qi "unsupported" <<<"$probe"; then
        echo "nvcc does not know this host compiler: adding -allow-unsupported-compiler"
        export CNOTE_NVCC_FLAGS="-allow-unsupported-compiler ${CNOTE_NVCC_FLAGS:-}"
    else
        echo "$probe"
        setup_fail "nvcc cannot compile a trivial kernel"
    fi
fi

mkdir -p "$OUT/work"
echo "== checks"
timeout 170 "$OUT/driver" "$OUT/cnote-exec" "$ROOT/kernel/include" "$OUT/work"
rc=$?
[[ $rc == 124 ]] && echo "FAIL: the checks did not finish within 170 s"
exit $rc
