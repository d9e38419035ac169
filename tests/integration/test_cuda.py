"""CUDA in the C kernel, through jupyter_client: %%cuda cells, %gpu, %cuda_arch, cuBLAS from C.

Every test run compiles CUDA: the kernel is started with CNOTE_CUDA_HOME pointing at the toolkit
that scripts/setup.sh installs from NVIDIA's PyPI wheels (.venv/cuda: nvcc, headers, runtime,
cuBLAS). The test machines have no GPU and no driver, so running a cell that needs one fails with
the exact "no CUDA device" message, and these tests check that everything else keeps working.
(On a machine with a driver the device-dependent assertions accept the cell running; the checks
that need a GPU live in tests/gpu/run.sh.) A kernel whose CNOTE_NVCC names a missing file shows
what a user without nvcc gets. The last group runs the GPU paths against a CPU stand-in for the
CUDA driver and runtime (tests/gpu/mock_cuda.c).
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import KERNEL_NAME, STARTUP_TIMEOUT, stop_kernel
from harness import describe, execute, fails, ok, strip_ansi, value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CUDA_HOME = os.path.join(ROOT, ".venv", "cuda")
NO_DRIVER = "no CUDA device: no CUDA driver (libcuda.so.1 not found)"


def _have_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


HAVE_DRIVER = _have_driver()

VADD = """%%cuda
#include <cstdio>
__global__ void vadd_k(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
int vadd(const float *a, const float *b, float *c, int n)
{
    float *da, *db, *dc;
    size_t bytes = n * sizeof(float);
    cudaMalloc(&da, bytes); cudaMalloc(&db, bytes); cudaMalloc(&dc, bytes);
    cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);
    vadd_k<<<(n + 255) / 256, 256>>>(da, db, dc, n);
    cudaError_t e = cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost);
    cudaFree(da); cudaFree(db); cudaFree(dc);
    return (int)e;
}
"""


def start_cuda_kernel(**env_changes: str | None):
    if not os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc")):
        pytest.fail(f"{CUDA_HOME}/bin/nvcc missing: run scripts/setup.sh (stage 'cuda wheels')",
                    pytrace=False)
    env = dict(os.environ)
    env["CNOTE_CUDA_HOME"] = CUDA_HOME
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=STARTUP_TIMEOUT, env=env)


@pytest.fixture(scope="module")
def kc():
    km, client = start_cuda_kernel()
    yield client
    stop_kernel(km, client)


@pytest.fixture
def fresh_cuda():
    started = []

    def start(**env_changes):
        km, client = start_cuda_kernel(**env_changes)
        started.append((km, client))
        return client

    yield start
    for km, client in started:
        stop_kernel(km, client)


def assert_needs_gpu(res) -> None:
    """The cell compiled and then needed a GPU: without a driver, the exact message."""
    if not HAVE_DRIVER:
        assert res.status == "error", describe(res)
        assert res.content["ename"] == "CUDAError", describe(res)
        assert res.content["evalue"] == NO_DRIVER, describe(res)
        tb = strip_ansi("\n".join(res.content["traceback"]))
        assert f"CUDAError: {NO_DRIVER}" in tb, tb
    elif res.status == "error":  # a driver but no usable device
        assert res.content["ename"] == "CUDAError", describe(res)
        assert res.content["evalue"].startswith("no CUDA device: "), describe(res)


# ---- %%cuda cells ------------------------------------------------------------------------------


def test_cuda_cell_compiles_then_needs_a_device(kc):
    res = execute(kc, "%%time\n" + VADD, timeout=180)
    assert_needs_gpu(res)
    # the run was reached, so nvcc compiled and the link succeeded first
    m = re.search(r"wall time: \d+ ms \(compile (\d+) ms, run \d+ ms\)", res.stdout)
    assert m, describe(res)
    assert int(m.group(1)) >= 50, describe(res)  # nvcc ran (about a second)


def test_kernel_works_after_a_cuda_cell(kc):
    execute(kc, VADD, timeout=180)
    assert value(kc, "int after_cuda = 41;\nafter_cuda + 1") == "42"
    assert value(kc, "after_cuda * 2") == "82"


def test_cuda_cell_that_did_not_load_defines_nothing(kc):
    res = execute(kc, VADD.replace("vadd", "vadd_gone"), timeout=180)
    assert_needs_gpu(res)
    if not HAVE_DRIVER:
        res = fails(kc, "float ga[4], gb[4], gc[4];\nvadd_gone(ga, gb, gc, 4)", "CompileError")
        assert re.search(r"implicit declaration of function .vadd_gone.", res.content["evalue"]), \
            describe(res)


def test_cuda_compile_error_is_shown_like_gcc(kc):
    res = fails(kc, "%%cuda\n__global__ void k(float *x)\n{\n    x[0] = undefined_y;\n}\n",
                "CompileError", timeout=180)
    n = res.content["execution_count"]
    assert res.content["evalue"] == f'In[{n}]:4: identifier "undefined_y" is undefined', describe(res)
    tb = strip_ansi("\n".join(res.content["traceback"]))
    assert f'In[{n}]:4: error: identifier "undefined_y" is undefined' in tb, tb
    assert "detected in the compilation" not in tb, tb
    assert "cell" not in tb.replace(f"In[{n}]", ""), tb  # no generated file names


def test_cuda_host_compiler_error_too(kc):
    # an error gcc (the host compiler) finds after nvcc's front end accepted the code
    res = fails(kc, "%%cuda\nint host_only(int a) { return a +; }\n", "CompileError", timeout=180)
    n = res.content["execution_count"]
    assert res.content["evalue"].startswith(f"In[{n}]:2"), describe(res)


def test_private_host_function_gets_a_note(kc):
    res = execute(kc, "%%cuda\nfloat3 mk(float a) { return make_float3(a, a, a); }\n"
                      "int shared_fn(int a) { return a; }\n", timeout=180)
    n = res.content["execution_count"]
    assert f"note: In[{n}]:2: 'mk' stays inside this cell" in res.stderr, describe(res)
    assert "shared_fn" not in res.stderr, describe(res)
    assert_needs_gpu(res)


def test_gpu_magic_says_why(kc):
    res = ok(kc, "%gpu")
    lines = res.stdout.strip().splitlines()
    runtime = os.path.realpath(os.path.join(CUDA_HOME, "lib", "libcudart.so.13"))
    assert any(line.startswith("CUDA runtime: 13.") and line.endswith(f"({runtime})")
               for line in lines), res.stdout
    if not HAVE_DRIVER:
        assert lines == ["CUDA driver: none (libcuda.so.1 not found)", lines[1], NO_DRIVER], lines


def test_cuda_arch_magic(fresh_cuda):
    kc = fresh_cuda()
    out = ok(kc, "%cuda_arch").stdout
    if not HAVE_DRIVER:
        assert out == "CUDA architectures: default (nvcc's default: no GPU)\n"
    out = ok(kc, "%cuda_arch sm_80,sm_90").stdout
    assert out == ("CUDA architectures: sm_80,sm_90 (%cuda_arch): nvcc "
                   "-gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 "
                   "-gencode=arch=compute_90,code=compute_90\n"), out
    assert_needs_gpu(execute(kc, VADD, timeout=180))  # compiles for both
    res = fails(kc, "%cuda_arch sm_9x", "UsageError")
    assert res.content["evalue"] == "bad argument for %cuda_arch: sm_9x", describe(res)
    assert ok(kc, "%cuda_arch 90").stdout.startswith("CUDA architectures: 90 (%cuda_arch): "
                                                     "nvcc -arch=sm_90")
    out = ok(kc, "%cuda_arch auto").stdout
    assert "(%cuda_arch)" not in out, out


def test_cuda_arch_from_environment(fresh_cuda):
    kc = fresh_cuda(CNOTE_CUDA_ARCH="compute_75")
    assert ok(kc, "%cuda_arch").stdout == ("CUDA architectures: compute_75 (CNOTE_CUDA_ARCH): "
                                           "nvcc -arch=compute_75\n")
    assert_needs_gpu(execute(kc, VADD, timeout=180))
    kc2 = fresh_cuda(CNOTE_CUDA_ARCH="sm_1")
    res = fails(kc2, VADD, "UsageError", timeout=180)
    assert res.content["evalue"] == "bad CUDA architecture list 'sm_1' (from CNOTE_CUDA_ARCH)"


# ---- cuBLAS and the CUDA runtime from C cells ---------------------------------------------------


def test_cublas_from_a_c_cell(kc):
    res = execute(kc, "#include <cublas_v2.h>\n"
                      "cublasHandle_t blas_h;\n"
                      "int blas_st = cublasCreate(&blas_h);\n"
                      "blas_st\n", timeout=120)
    assert_needs_gpu(res)
    # the libraries the header implies were loaded once, from the toolkit
    libs = ok(kc, "%lib").stdout
    for name in ("libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"):
        path = os.path.realpath(os.path.join(CUDA_HOME, "lib", name))
        assert f"{path}  (for #include <cublas_v2.h>)" in libs, libs
    # the header is really read: a wrong call is the compiler's error about cuBLAS itself
    res = fails(kc, "#include <cublas_v2.h>\ncublasCreate(1, 2)\n", "CompileError")
    assert "cublasCreate" in res.content["evalue"], describe(res)
    if not HAVE_DRIVER:
        # the failed cells left nothing behind: later C cells need no GPU
        assert value(kc, "int no_gpu_needed = 2;\nno_gpu_needed * 21") == "42"


def test_cuda_runtime_from_a_c_cell(kc):
    res = execute(kc, "#include <cuda_runtime.h>\n"
                      "int rt_n = -1;\n"
                      "cudaGetDeviceCount(&rt_n);\n"
                      "rt_n\n", timeout=120)
    assert_needs_gpu(res)


# ---- no nvcc -------------------------------------------------------------------------------------


def test_without_nvcc_only_cuda_cells_fail(fresh_cuda):
    kc = fresh_cuda(CNOTE_NVCC="/nonexistent/nvcc", CNOTE_CUDA_HOME=None)
    res = fails(kc, VADD, "CompileError")
    assert res.content["evalue"] == \
        "nvcc not found: CNOTE_NVCC=/nonexistent/nvcc is not an executable file", describe(res)
    assert value(kc, "int no_nvcc = 6;\nno_nvcc * 7") == "42"
    out = ok(kc, "%gpu").stdout
    if not HAVE_DRIVER:
        assert out.splitlines()[-1] == NO_DRIVER, out
    assert value(kc, "no_nvcc + 1") == "7"


# ---- the GPU paths, with a CPU stand-in for the driver and runtime ------------------------------
# tests/gpu/mock_cuda.c pretends to be one sm_90 GPU (kernels the tests launch are done on the CPU
# by name). The real nvcc compiles the cells; the kernel and its state process cannot tell the
# difference, so what runs only on a GPU machine is exercised here too: the device query and
# -arch, %%cuda functions called from C cells, errors found after a cell, a broken context.


@pytest.fixture(scope="module")
def mock_kc(tmp_path_factory):
    root = tmp_path_factory.mktemp("mock_cuda")
    lib = root / "lib"
    lib.mkdir()
    src = os.path.join(ROOT, "tests", "gpu", "mock_cuda.c")
    for out, extra in (("libcudart.so.13", []), ("libcuda.so.1", ["-DMOCK_DRIVER"])):
        subprocess.run(["cc", "-std=c11", "-shared", "-fPIC", "-O1", *extra, "-o", str(lib / out),
                        f"-Wl,-soname,{out}", src], check=True)
    # a toolkit whose nvcc is the real one and whose runtime is the stand-in
    tk = root / "tk"
    (tk / "bin").mkdir(parents=True)
    nvcc = tk / "bin" / "nvcc"
    nvcc.write_text(f'#!/bin/sh\nexec "{CUDA_HOME}/bin/nvcc" "$@"\n')
    nvcc.chmod(0o755)
    (tk / "include").symlink_to(os.path.join(CUDA_HOME, "include"))
    (tk / "lib64").symlink_to(lib)
    ld = os.environ.get("LD_LIBRARY_PATH")
    km, client = start_cuda_kernel(CNOTE_NVCC=str(nvcc), CNOTE_CUDA_HOME=None,
                                   LD_LIBRARY_PATH=f"{lib}:{ld}" if ld else str(lib))
    yield client
    stop_kernel(km, client)


SAXPY = """%%cuda
__global__ void saxpy_k(int n, float a, const float *x, float *y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
int saxpy(int n, float a, const float *x, float *y)
{
    saxpy_k<<<(n + 255) / 256, 256>>>(n, a, x, y);
    return cudaGetLastError();
}
int main() { printf("saxpy cell loaded\\n"); return 0; }
"""


def test_mock_gpu_is_listed_and_sets_the_architecture(mock_kc):
    out = ok(mock_kc, "%gpu").stdout
    assert "GPU 0: cnote mock GPU, compute capability 9.0 (sm_90), 80.0 GiB, 132 multiprocessors" \
        in out, out
    assert "CUDA driver: 13.5 (libcuda.so.1)" in out, out
    assert ok(mock_kc, "%cuda_arch").stdout == \
        "CUDA architectures: sm_90 (the GPU): nvcc -arch=sm_90\n"


def test_mock_cuda_functions_and_device_memory_across_cells(mock_kc):
    res = ok(mock_kc, SAXPY, timeout=180)
    assert res.stdout == "saxpy cell loaded\n", describe(res)
    assert value(mock_kc, "#include <cuda_runtime.h>\n"
                          "enum { SN = 1 << 16 };\n"
                          "float *sdx, *sdy;\n"
                          "cudaMalloc((void **)&sdx, SN * sizeof(float));\n"
                          "cudaMalloc((void **)&sdy, SN * sizeof(float));\n"
                          "float *shx = malloc(SN * sizeof(float));\n"
                          "for (int i = 0; i < SN; i++) shx[i] = i;\n"
                          "cudaMemcpy(sdx, shx, SN * sizeof(float), cudaMemcpyHostToDevice);\n"
                          "cudaMemcpy(sdy, shx, SN * sizeof(float), cudaMemcpyHostToDevice);\n"
                          "saxpy(SN, 2.0f, sdx, sdy)\n") == "0"
    assert value(mock_kc, "cudaMemcpy(shx, sdy, SN * sizeof(float), cudaMemcpyDeviceToHost);\n"
                          "shx[10]\n") == "30"
    # a later CUDA cell names the C cell's global (C's enums and macros stay in C cells)
    ok(mock_kc, "%%cuda\n__global__ void scale_k(float *x, float s, int n)\n"
                "{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= s; }\n"
                "int scale_sdy(float s) { scale_k<<<256, 256>>>(sdy, s, 1 << 16); return 0; }\n",
       timeout=180)
    assert value(mock_kc, "scale_sdy(0.5f);\n"
                          "cudaMemcpy(shx, sdy, SN * sizeof(float), cudaMemcpyDeviceToHost);\n"
                          "shx[10]\n") == "15"
    who = ok(mock_kc, "%who").stdout
    assert re.search(r"saxpy +int saxpy\(int n, float a, const float \*x, float \*y\)", who), who


def test_mock_launch_error_after_the_cell(mock_kc):
    ok(mock_kc, "%%cuda\n__global__ void one_k(float *x) { x[threadIdx.x] = 1; }\n"
                "void too_wide(void) { one_k<<<1, 4096>>>(0); }\n", timeout=180)
    res = fails(mock_kc, "too_wide();", "CUDAError")
    n = res.content["execution_count"]
    assert res.content["evalue"] == \
        f"invalid configuration argument (cudaErrorInvalidConfiguration) after In[{n}]"
    assert "broke the GPU context" not in "\n".join(res.content["traceback"])
    assert value(mock_kc, "saxpy(0, 1.0f, sdx, sdy)") == "0"  # the GPU is still usable


def test_mock_memlimit_not_applied_with_cuda(mock_kc):
    out = ok(mock_kc, "%memlimit 4G").stdout
    assert out == ("memory limit: 4096 MB\nnote: not applied while CUDA is in use (the CUDA "
                   "driver reserves more address space than it allows); %reset applies it to a "
                   "fresh state\n"), out


def test_mock_sticky_error_breaks_the_context_until_reset(mock_kc):
    ok(mock_kc, "%%cuda\n__global__ void poke_k(float *x) { x[threadIdx.x] = 1; }\n"
                "void poke(void) { poke_k<<<1, 32>>>((float *)0x10); }\n", timeout=180)
    res = fails(mock_kc, "poke();", "CUDAError")
    n = res.content["execution_count"]
    broken = "an illegal memory access was encountered (cudaErrorIllegalAddress)"
    assert res.content["evalue"] == f"{broken} after In[{n}]"
    tb = strip_ansi("\n".join(res.content["traceback"]))
    assert "This error broke the GPU context: every later CUDA call fails. %reset starts a " \
           "fresh state process" in tb, tb
    res = fails(mock_kc, "%%cuda\nint after_poke(void) { return 1; }\n", "CUDAError", timeout=180)
    assert res.content["evalue"] == (f"the GPU context is unusable since an earlier error "
                                     f"({broken}): %reset starts a fresh state process")
    assert value(mock_kc, "6 * 7") == "42"  # C cells go on, CUDA headers included or not
    ok(mock_kc, "%reset")
    ok(mock_kc, "%%cuda\nint fresh_gpu(void) { return 5; }\n", timeout=180)
    assert value(mock_kc, "fresh_gpu()") == "5"
