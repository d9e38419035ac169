"""Compute from C cells with OpenBLAS and LAPACKE, and which compiler warnings a user sees.

- `#include <cblas.h>` / `#include <lapacke.h>` need no flags: the kernel loads the implied
  libraries into the state process (once), so dgemm and dgesv just work; results are checked
  inside the cell against a naive loop / the residual A*x - b.
- The library is loaded once per state process: the kernel logs one "loading library" line
  per load (its stderr goes to a file here), and `%lib` lists it once.
- `%threads N` sets OpenBLAS's thread count, before the library is loaded (environment) and
  after (openblas_set_num_threads); it survives `%reset`; bad arguments are a UsageError.
- A library that cannot be loaded is a LibraryError that names the Debian package (made to
  fail here with a small %memlimit).
- Cells are compiled with -Wall -Wextra, and only diagnostics on the user's own lines are
  shown: an unused variable warns with the cell's line number; a cell whose generated code
  does warn (main(void) called with argc/argv) shows nothing - checked by compiling the
  kernel's generated file for that cell again, with the same warnings, in the test.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import KERNEL_NAME, STARTUP_TIMEOUT, stop_kernel
from harness import describe, execute, fails, ok, strip_ansi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DGEMM_CELL = r"""
#include <cblas.h>
enum { M = 50, K = 60, N = 40 };
double *ga = malloc(sizeof(double) * M * K), *gb = malloc(sizeof(double) * K * N);
double *gc = malloc(sizeof(double) * M * N);
srand(42);
for (int i = 0; i < M * K; i++) ga[i] = rand() / (double)RAND_MAX - 0.5;
for (int i = 0; i < K * N; i++) gb[i] = rand() / (double)RAND_MAX - 0.5;
cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, ga, K, gb, N, 0.0, gc, N);
double maxerr = 0, maxval = 0;
for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int p = 0; p < K; p++) s += ga[i * K + p] * gb[p * N + j];
        double e = s > gc[i * N + j] ? s - gc[i * N + j] : gc[i * N + j] - s;
        if (e > maxerr) maxerr = e;
        if (s > maxval) maxval = s;
    }
printf("maxerr=%.3e maxval=%.3f\n", maxerr, maxval);
"""

DGESV_CELL = r"""
#include <lapacke.h>
enum { NS = 30 };
double *sa = malloc(sizeof(double) * NS * NS), *sa0 = malloc(sizeof(double) * NS * NS);
double sb[NS], sx[NS];
lapack_int piv[NS];
srand(7);
for (int i = 0; i < NS * NS; i++) sa[i] = sa0[i] = rand() / (double)RAND_MAX - 0.5;
for (int i = 0; i < NS; i++) { sa[i * NS + i] += NS; sa0[i * NS + i] += NS; }
for (int i = 0; i < NS; i++) sb[i] = sx[i] = rand() / (double)RAND_MAX;
int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, NS, 1, sa, NS, piv, sx, 1);
double res = 0, xmax = 0;
for (int i = 0; i < NS; i++) {
    double r = -sb[i];
    for (int j = 0; j < NS; j++) r += sa0[i * NS + j] * sx[j];
    if (r < 0) r = -r;
    if (r > res) res = r;
    if (sx[i] > xmax || -sx[i] > xmax) xmax = sx[i] > 0 ? sx[i] : -sx[i];
}
printf("info=%d residual=%.3e xmax=%.3e\n", info, res, xmax);
"""


def number(text: str, name: str) -> float:
    m = re.search(name + r"=(\S+)", text)
    assert m, f"no {name}= in {text!r}"
    return float(m.group(1))


@pytest.fixture
def logged_kernel(tmp_path):
    """A kernel of its own whose stderr (its log) goes to a file, without precompiled headers
    so the generated cell files are self-contained. Yields (kc, log path)."""
    log_path = tmp_path / "kernel.log"
    with open(log_path, "w") as log:
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=STARTUP_TIMEOUT,
                                  stderr=log, env=dict(os.environ, CNOTE_NO_PCH="1",
                                                       CNOTE_LOG_LEVEL="info"))
        try:
            yield kc, log_path
        finally:
            stop_kernel(km, kc)


def loads(log_path, lib: str) -> int:
    text = log_path.read_text()
    return len(re.findall(r"loading library path=\S*" + re.escape(lib), text))


# --------------------------------------------------------------------------------------------
# BLAS and LAPACK without flags
# --------------------------------------------------------------------------------------------


def test_dgemm_matches_naive_loop_without_lib_magic(kc):
    res = ok(kc, DGEMM_CELL)
    assert res.stderr == "", describe(res)
    assert number(res.stdout, "maxerr") < 1e-9, describe(res)
    assert number(res.stdout, "maxval") > 0.5, describe(res)  # a real product, not zeros


def test_lapacke_dgesv_solves_the_system(kc):
    res = ok(kc, DGESV_CELL)
    assert res.stderr == "", describe(res)
    assert number(res.stdout, "info") == 0, describe(res)
    assert number(res.stdout, "residual") < 1e-9, describe(res)
    assert number(res.stdout, "xmax") > 0, describe(res)


def test_later_cell_calls_blas_without_include(kc):
    ok(kc, "#include <cblas.h>")
    res = ok(kc, "double lx[3] = {1, 2, 3}, ly[3] = {4, 5, 6};\n"
                 "printf(\"dot=%g\\n\", cblas_ddot(3, lx, 1, ly, 1));")
    assert res.stdout == "dot=32\n", describe(res)


def test_blas_library_loaded_once(logged_kernel):
    kc, log_path = logged_kernel
    ok(kc, "#include <cblas.h>\ndouble o1[2] = {1, 2};\n"
           "printf(\"%g\\n\", cblas_dnrm2(2, o1, 1));")
    assert loads(log_path, "libopenblas") == 1, log_path.read_text()
    # a second cell with the same include, and a LAPACKE cell that also implies OpenBLAS
    res = ok(kc, "#include <cblas.h>\nprintf(\"%g\\n\", cblas_dasum(2, o1, 1));")
    assert res.stdout == "3\n", describe(res)
    res = ok(kc, "#include <lapacke.h>\nprintf(\"%d\\n\", LAPACK_ROW_MAJOR);")
    assert res.stdout == "101\n", describe(res)
    assert loads(log_path, "libopenblas") == 1, log_path.read_text()
    assert loads(log_path, "liblapacke") == 1, log_path.read_text()
    # %lib lists each once, with the header that implied it
    res = ok(kc, "%lib")
    lines = res.stdout.splitlines()
    assert len([ln for ln in lines if "libopenblas" in ln]) == 1, describe(res)
    assert any("liblapacke" in ln and "lapacke.h" in ln for ln in lines), describe(res)
    # the cell .so files are not linked against it: only the state process maps it
    res = ok(kc, "FILE *mf = fopen(\"/proc/self/maps\", \"r\"); char ml[512]; int mn = 0;\n"
                 "while (fgets(ml, sizeof ml, mf)) mn += strstr(ml, \"openblas\") != NULL;\n"
                 "fclose(mf);\nprintf(\"mapped=%d\\n\", mn > 0);")
    assert res.stdout == "mapped=1\n", describe(res)


# --------------------------------------------------------------------------------------------
# %threads
# --------------------------------------------------------------------------------------------


def test_threads_before_and_after_load_and_across_reset(logged_kernel):
    kc, _ = logged_kernel
    # before OpenBLAS is loaded: taken from the environment when it loads
    res = ok(kc, "%threads 2")
    assert "BLAS threads: 2" in res.stdout, describe(res)
    res = ok(kc, "#include <cblas.h>\nprintf(\"n=%d\\n\", openblas_get_num_threads());")
    assert res.stdout == "n=2\n", describe(res)
    # once loaded: openblas_set_num_threads; the same cell sees the new count
    res = ok(kc, "%threads 1\nprintf(\"n=%d\\n\", openblas_get_num_threads());")
    assert res.stdout == "BLAS threads: 1\nn=1\n", describe(res)
    res = ok(kc, "%threads")
    assert res.stdout == "BLAS threads: 1\n", describe(res)
    res = ok(kc, "%threads 2")
    res = ok(kc, "printf(\"n=%d\\n\", openblas_get_num_threads());")
    assert res.stdout == "n=2\n", describe(res)
    # a fresh state process gets the setting too
    ok(kc, "%threads 1")
    ok(kc, "%reset")
    res = ok(kc, "#include <cblas.h>\nprintf(\"n=%d\\n\", openblas_get_num_threads());")
    assert res.stdout == "n=1\n", describe(res)


@pytest.mark.parametrize("arg", ["0", "-1", "two", "3x", "100000"])
def test_threads_bad_argument(kc, arg):
    res = fails(kc, f"%threads {arg}", "UsageError")
    assert "%threads" in res.error_text(), describe(res)


def test_library_that_cannot_load_names_the_package(fresh_kc):
    # a 40 MB address-space limit leaves no room to map OpenBLAS: dlopen fails
    ok(fresh_kc, "%memlimit 40M")
    res = fails(fresh_kc, "#include <cblas.h>\nint lq = 1;", "LibraryError")
    text = res.error_text()
    assert "libopenblas-dev" in text and "cblas.h" in text, describe(res)
    # nothing is remembered as loaded: with room again the same cell works
    ok(fresh_kc, "%memlimit none")
    res = ok(fresh_kc, "#include <cblas.h>\nprintf(\"%d\\n\", openblas_get_num_threads() > 0);")
    assert res.stdout == "1\n", describe(res)


# --------------------------------------------------------------------------------------------
# Warnings: -Wall -Wextra, the user's own lines only
# --------------------------------------------------------------------------------------------


def test_unused_variable_warns_with_cell_line(kc):
    res = ok(kc, "int wa1 = 1;\nvoid wfn(void) {\n    int unused_w = 3;\n}\nwa1")
    n = res.content["execution_count"]
    err = strip_ansi(res.stderr)
    assert re.search(rf"In\[{n}\]:3:9: warning: unused variable .unused_w. \[-Wunused-variable\]",
                     err), describe(res)
    assert f"In[{n}]: In function" in err and "wfn" in err, describe(res)
    assert "__ck_cell" not in err and "<cnote>" not in err, describe(res)
    assert res.result_text() == "1"


def test_warning_notes_stay_with_their_warning(kc):
    res = ok(kc, "void wnote(int *p) { (void)p; }\nunsigned wu = 3;\nwnote(&wu);")
    n = res.content["execution_count"]
    err = strip_ansi(res.stderr)
    assert re.search(rf"In\[{n}\]:3:\d+: warning: pointer targets .* differ in signedness", err) \
        or re.search(rf"In\[{n}\]:3:\d+: warning: passing argument 1 of .wnote.", err), describe(res)
    assert re.search(rf"In\[{n}\]:1:\d+: note: expected .int \*. but argument", err), describe(res)


def test_earlier_cells_warnings_are_not_repeated(kc):
    res = ok(kc, "#define WLESS(a, b) ((a) < (b))\nint wgt = 1;")
    assert res.stderr == "", describe(res)
    res = ok(kc, "unsigned wux = 1; int wiy = -1;\nint wcmp = WLESS(wiy, wux);")
    n = res.content["execution_count"]
    assert f"In[{n}]:2" in strip_ansi(res.stderr), describe(res)  # -Wsign-compare, here
    res = ok(kc, "wgt + 1")
    assert res.stderr == "", describe(res)


def test_generated_code_warnings_are_hidden(logged_kernel):
    kc, log_path = logged_kernel
    cell = ("typedef struct { double x, y; } wpt;\n"
            "wpt wp = {3, 4};\n"
            "double wnorm(wpt p) { return p.x * p.x + p.y * p.y; }\n"
            "int main(void) { printf(\"%g\\n\", wnorm(wp)); return 0; }\n"
            "for (int i = 0; i < 2; i++) wp.x += i;\n"
            "wp.x")
    res = ok(kc, cell)
    assert res.stdout == "32\n", describe(res)  # main() runs after the statements
    assert res.stderr == "", describe(res)
    assert res.result_text() == "4"
    # The generated file does warn with the same flags (the call of main(void) with argc and
    # argv goes through a cast): compile it again and look.
    workdir = re.search(r"workdir=(\S+)", log_path.read_text()).group(1)
    files = sorted((f for f in os.listdir(workdir) if re.fullmatch(r"cell\d+\.c", f)),
                   key=lambda f: int(f[4:-2]))
    src = os.path.join(workdir, files[-1])
    assert "main" in open(src).read()
    out = subprocess.run(["gcc", "-c", "-fPIC", "-O2", "-Wall", "-Wextra",
                          "-fdiagnostics-color=never", "-I", os.path.join(ROOT, "kernel/include"),
                          src, "-o", os.devnull],
                         cwd=workdir, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "<cnote>" in out.stderr and "warning:" in out.stderr, out.stderr


def test_compile_error_still_shown_in_full(kc):
    res = fails(kc, "int wbad = ;\n", "CompileError")
    n = res.content["execution_count"]
    assert f"In[{n}]:1" in res.error_text(), describe(res)


def test_typical_cells_are_quiet(kc):
    cells = [
        "#include <math.h>\ndouble *tv = malloc(100 * sizeof *tv);\n"
        "for (int i = 0; i < 100; i++) tv[i] = sin(i);",
        "typedef struct { int a, b; } tpair;\ntpair tp = {1, 2};\ntp",
        "int tarr[] = {1, 2, 3};\nconst char *ts = \"hi\";\nts",
        "enum tcol { TRED, TGREEN };\nenum tcol tc = TGREEN;\ntc",
        "static inline int tinc(int q) { return q + 1; }\ntinc(2)",
        "float tf = 1.5f;\ntf",
        "'x'",
        "tv",
        "(void)0",
        "int main(int argc, char **argv) { (void)argc; (void)argv; return 0; }",
    ]
    for c in cells:
        res = execute(kc, c)
        assert res.status == "ok", describe(res)
        assert res.stderr == "", (c, describe(res))
