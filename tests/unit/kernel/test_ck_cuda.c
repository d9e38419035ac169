/*
 * test_ck_cuda.c - unit tests for kernel/engine/ck_cuda.c: the .cu file of a %%cuda cell
 * (exported host functions, their labels and C declarations, the earlier symbols a cell
 * sees, main), the architecture options, nvcc's diagnostics rewritten to gcc's form,
 * the toolkit lookup from the environment (with fake toolkits in a temporary directory)
 * and the CUDA header test. The C declarations a CUDA cell exports are compiled for real
 * with `gcc -fsyntax-only`, so they are known to be C. nvcc itself is not run here: the
 * integration tests (tests/integration/test_cuda.py) compile cells with it.
 */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ck_cuda.h"
#include "ck_job.h"
#include "ck_libs.h"
#include "ck_sess.h"
#include "jp_buf.h"
#include "jp_err.h"

static char tmpdir[256];

static int group_setup(void **state)
{
    const char *base = getenv("TMPDIR");
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/test_ck_cuda.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[512];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A session after one C cell, then a %%cuda cell generated against it. */
struct fx {
    struct ck_session s;
    struct ck_gen g;
};

static void c_cell(struct ck_session *s, const char *code)
{
    struct ck_session next;
    struct ck_gen g = {0};
    assert_int_equal(ck_session_clone(&next, s), 0);
    assert_int_equal(ck_gen(&next, code, strlen(code), "In[1]", &g), 0);
    ck_session_dispose(s);
    *s = next;
    ck_gen_dispose(&g);
}

/* Generate the %%cuda cell code against f->s; the new session replaces f->s. */
static void cuda_cell(struct fx *f, const char *code, const char *cell)
{
    struct ck_session next;
    ck_gen_dispose(&f->g);
    memset(&f->g, 0, sizeof f->g);
    assert_int_equal(ck_session_clone(&next, &f->s), 0);
    assert_int_equal(ck_cuda_gen(&next, code, strlen(code), cell, &f->g), 0);
    ck_session_dispose(&f->s);
    f->s = next;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || ck_session_init(&f->s)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ck_session_dispose(&f->s);
    ck_gen_dispose(&f->g);
    free(f);
    return 0;
}

static const char *code_of(struct fx *f)
{
    return f->g.code.data ? f->g.code.data : "";
}

static const struct ck_sym *sym(struct fx *f, const char *name)
{
    return ck_session_find(&f->s, name, strlen(name));
}

static const char vadd_cell[] =
    "      \n" /* the blanked %%cuda line */
    "#include <cstdio>\n"
    "__global__ void vadd_k(const float *a, const float *b, float *c, int n)\n"
    "{\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) c[i] = a[i] + b[i];\n"
    "}\n"
    "int vadd(const float *a, const float *b, float *c, int n)\n"
    "{\n"
    "    vadd_k<<<(n + 255) / 256, 256>>>(a, b, c, n);\n"
    "    return (int)cudaGetLastError();\n"
    "}\n";

static void test_ck_cuda_gen_exports_host_function(void **state)
{
    struct fx *f = *state;
    cuda_cell(f, vadd_cell, "In[1]");
    const struct ck_sym *y = sym(f, "vadd");
    assert_non_null(y);
    assert_int_equal(y->kind, CK_SYM_FUNC);
    assert_string_equal(y->label, "vadd__ck1");
    assert_string_equal(y->decl, "int vadd(const float *a, const float *b, float *c, int n) "
                                 "__asm__(\"vadd__ck1\");");
    assert_string_equal(y->cell, "In[1]");
    assert_int_equal(y->line, 8);
    /* the labelled prototype comes before the cell text, which follows verbatim */
    const char *p = strstr(code_of(f), "__asm__(\"vadd__ck1\");");
    const char *l = strstr(code_of(f), "#line 1 \"In[1]\"\n      \n#include <cstdio>\n");
    assert_non_null(p);
    assert_non_null(l);
    assert_true(p < l);
    /* kernels are not exported */
    assert_null(sym(f, "vadd_k"));
    assert_string_equal(f->g.fn, "__ck_cell_1");
    assert_non_null(strstr(code_of(f), "extern \"C\" void __ck_cell_1(void) {}"));
    assert_int_equal(f->g.has_main, 0);
}

static void test_ck_cuda_gen_rerun_gets_new_label(void **state)
{
    struct fx *f = *state;
    cuda_cell(f, vadd_cell, "In[1]");
    cuda_cell(f, vadd_cell, "In[2]");
    assert_string_equal(sym(f, "vadd")->label, "vadd__ck2");
    assert_string_equal(sym(f, "vadd")->cell, "In[2]");
    size_t n = 0;
    for (size_t i = 0; i < f->s.n_syms; i++)
        n += strcmp(f->s.syms[i].name, "vadd") == 0;
    assert_int_equal(n, 1);
}

static void test_ck_cuda_gen_private_functions(void **state)
{
    struct fx *f = *state;
    cuda_cell(f,
              "template <typename T> __global__ void fill(T *x, T v) { x[0] = v; }\n"
              "static int helper(int x) { return 2 * x; }\n"
              "__device__ float sq(float x) { return x * x; }\n"
              "inline int twice(int x) { return 2 * x; }\n"
              "float3 mk(float a) { return make_float3(a, a, a); }\n"
              "void byref(float &x) { x = 1; }\n"
              "namespace ns { int inside(int x) { return x; } }\n"
              "cudaError_t sync_all(void) { return cudaDeviceSynchronize(); }\n"
              "int ok_one(size_t n, int64_t m, const char *s, double v[4]) { return 0; }\n",
              "In[1]");
    const char *gone[] = {"fill", "helper", "sq", "twice", "mk", "byref", "inside", "sync_all"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        assert_null(sym(f, gone[i]));
    assert_non_null(sym(f, "ok_one"));
    /* the host functions kept private for their types get a note; the rest are silent */
    const char *w = f->g.warnings.data ? f->g.warnings.data : "";
    assert_non_null(strstr(w, "note: In[1]:5: 'mk' stays inside this cell"));
    assert_non_null(strstr(w, "'byref' stays inside"));
    assert_non_null(strstr(w, "'sync_all' stays inside"));
    assert_null(strstr(w, "'helper'"));
    assert_null(strstr(w, "'fill'"));
    assert_null(strstr(w, "'inside'"));
}

static void test_ck_cuda_gen_cuda_types_known_to_c_cells(void **state)
{
    struct fx *f = *state;
    /* once the C session knows cudaError_t (a CUDA header), a function returning it is shared */
    const char *names[] = {"cudaError_t", "size_t"};
    assert_int_equal(ck_session_set_hdr_types(&f->s, (char *const *)names, 2), 0);
    cuda_cell(f, "__host__ cudaError_t sync_all(void) { return cudaDeviceSynchronize(); }\n",
              "In[1]");
    assert_non_null(sym(f, "sync_all"));
    assert_string_equal(sym(f, "sync_all")->decl,
                        "cudaError_t sync_all(void) __asm__(\"sync_all__ck1\");");
}

static void test_ck_cuda_gen_extern_c_block(void **state)
{
    struct fx *f = *state;
    cuda_cell(f,
              "extern \"C\" {\nvoid scale(float *x, float a, int n) { }\n}\n"
              "extern \"C\" int one(void) { return 1; }\n",
              "In[1]");
    assert_non_null(strstr(code_of(f), "extern \"C\" void scale(float *x, float a, int n) "
                                       "__asm__(\"scale__ck1\");"));
    assert_non_null(strstr(code_of(f), "extern \"C\" int one(void) __asm__(\"one__ck1\");"));
    /* C cells see no linkage words */
    assert_string_equal(sym(f, "one")->decl, "int one(void) __asm__(\"one__ck1\");");
    assert_string_equal(sym(f, "scale")->decl,
                        "void scale(float *x, float a, int n) __asm__(\"scale__ck1\");");
}

static void test_ck_cuda_gen_empty_params_are_void_for_c(void **state)
{
    struct fx *f = *state;
    cuda_cell(f, "int answer() { return 42; }\n", "In[1]");
    assert_string_equal(sym(f, "answer")->decl, "int answer(void) __asm__(\"answer__ck1\");");
    assert_string_equal(sym(f, "answer")->type, "int answer(void)");
}

static void test_ck_cuda_gen_main_is_called(void **state)
{
    struct fx *f = *state;
    cuda_cell(f, "#include <cstdio>\nint main() { printf(\"hi\\n\"); return 0; }\n", "In[3]");
    assert_int_equal(f->g.has_main, 1);
    assert_null(sym(f, "main"));
    const char *c = code_of(f);
    assert_non_null(strstr(c, "#define main __ck_main_1\n#line 1 \"In[3]\"\n"));
    assert_non_null(strstr(c, "#undef main\n"));
    assert_non_null(strstr(c, "__ck_main_returned(((int (*)(int, char **))__ck_main_1)(1, "));
}

static void test_ck_cuda_gen_sees_used_earlier_symbols(void **state)
{
    struct fx *f = *state;
    c_cell(&f->s, "float *dbuf = 0;\nint counter = 3;\n"
                  "typedef struct { int x; } pt;\npt origin;\n"
                  "int add(int a, int b) { return a + b; }\n"
                  "int px(pt p) { return p.x; }\n"
                  "double scale = 2;\n");
    cuda_cell(f,
              "__global__ void k(float *x) { x[0] = 1; }\n"
              "void go(void) { k<<<1, 1>>>(dbuf); counter = add(counter, 1); }\n"
              "int px2(void) { return px(origin); }\n"
              "double scale = 3;\n",
              "In[2]");
    const char *c = code_of(f);
    /* named and plain C: declared */
    assert_non_null(strstr(c, "extern float *dbuf __asm__(\"dbuf__ck1\");\n"));
    assert_non_null(strstr(c, "extern int counter __asm__(\"counter__ck1\");\n"));
    assert_non_null(strstr(c, "int add(int a, int b) __asm__(\"add__ck1\");\n"));
    /* types C++ does not have here (a cell's typedef): left out, as is what the cell
     * defines itself (scale) */
    assert_null(strstr(c, "origin__ck1"));
    assert_null(strstr(c, "px__ck1"));
    assert_null(strstr(c, "scale__ck1"));
}

static void test_ck_cuda_gen_redeclared_earlier_symbols(void **state)
{
    struct fx *f = *state;
    c_cell(&f->s, "double *v = 0;\nint add(int a, int b) { return a + b; }\nint w = 1;\n");
    /* declaring them again (C habits) keeps the labels; defining them hides them */
    cuda_cell(f,
              "extern \"C\" int add(int, int);\nextern double *v;\nint w = 2;\n"
              "dim3 grid(4);\nint use(void) { return add(1, 2) + (v ? 1 : 0) + w; }\n",
              "In[2]");
    const char *c = code_of(f);
    assert_non_null(strstr(c, "extern \"C\" {\nextern double *v __asm__(\"v__ck1\");\n"
                              "int add(int a, int b) __asm__(\"add__ck1\");\n}\n"));
    assert_null(strstr(c, "w__ck1"));
}

static void test_ck_cuda_gen_unused_symbols_not_declared(void **state)
{
    struct fx *f = *state;
    c_cell(&f->s, "int y0 = 1;\nint index = 2;\n");
    cuda_cell(f, "int f(int a) { return a; }\n", "In[2]");
    /* names C++ headers also declare would clash: only what the cell names is declared */
    assert_null(strstr(code_of(f), "y0__ck1"));
    assert_null(strstr(code_of(f), "index__ck1"));
}

static void test_ck_cuda_gen_c_cells_compile_against_exports(void **state)
{
    struct fx *f = *state;
    cuda_cell(f, vadd_cell, "In[1]");
    cuda_cell(f,
              "int ok_one(size_t n, int64_t m, const char *s, double v[4]) { return 0; }\n"
              "unsigned long long big(unsigned char c, bool b, float *__restrict__ p) "
              "{ return 0; }\n",
              "In[2]");
    /* a later C cell: its file holds the exports' declarations and calls them */
    struct ck_session next;
    struct ck_gen g = {0};
    const char *code = "float a[4], b[4], c[4];\nvadd(a, b, c, 4) + ok_one(1, 2, \"x\", 0) + "
                       "(int)big('a', true, c)\n";
    assert_int_equal(ck_session_clone(&next, &f->s), 0);
    assert_int_equal(ck_gen(&next, code, strlen(code), "In[3]", &g), 0);
    char path[sizeof tmpdir + 32], inc[PATH_MAX + 8], cwd[PATH_MAX];
    snprintf(path, sizeof path, "%s/c_after_cuda.c", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fwrite(g.code.data, 1, g.code.len, fp);
    fclose(fp);
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(inc, sizeof inc, "-I%s/kernel/include", cwd);
    char *argv[] = {
        "gcc", "-std=gnu17", "-fsyntax-only", "-Werror=implicit-function-declaration", inc,
        path,  NULL};
    struct jp_buf out;
    jp_buf_init(&out, 1 << 20);
    int rc = ck_run(argv, NULL, &out, 30000);
    if (rc)
        fprintf(stderr, "%s\n---\n%s\n", out.data ? out.data : "", g.code.data);
    assert_int_equal(rc, 0);
    jp_buf_dispose(&out);
    ck_gen_dispose(&g);
    ck_session_dispose(&next);
}

static void test_ck_cuda_gen_serial_and_line_directives(void **state)
{
    struct fx *f = *state;
    c_cell(&f->s, "int x = 1;\n");
    cuda_cell(f, "int g(void) { return 1; }\n", "In[2]");
    assert_int_equal(f->s.serial, 2);
    assert_string_equal(f->g.fn, "__ck_cell_2");
    assert_non_null(strstr(code_of(f), "#line 1 \"<cnote>\"\n#include <stdio.h>\n"));
    assert_non_null(strstr(code_of(f), "#include <cnote.h>\n"));
}

/* ---- architectures ---- */

static void arch(const char *spec, int want_rc, const char *want)
{
    char out[512];
    int rc = ck_cuda_arch_flags(spec, out, sizeof out);
    assert_int_equal(rc, want_rc);
    if (!rc)
        assert_string_equal(out, want);
}

static void test_ck_cuda_arch_flags_forms(void **state)
{
    (void)state;
    arch("", 0, "");
    arch(NULL, 0, "");
    arch("sm_90", 0, "-arch=sm_90");
    arch("90", 0, "-arch=sm_90");
    arch("9.0", 0, "-arch=sm_90");
    arch("sm_90a", 0, "-arch=sm_90a");
    arch("compute_80", 0, "-arch=compute_80");
    arch("native", 0, "-arch=native");
    arch("all-major", 0, "-arch=all-major");
    arch(" sm_120 ", 0, "-arch=sm_120");
    arch("sm_80,sm_90", 0,
         "-gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 "
         "-gencode=arch=compute_90,code=compute_90");
    arch("90 80", 0,
         "-gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_80,code=sm_80 "
         "-gencode=arch=compute_90,code=compute_90");
}

static void test_ck_cuda_arch_flags_rejects(void **state)
{
    (void)state;
    arch("bogus", JP_EINVAL, NULL);
    arch("sm_", JP_EINVAL, NULL);
    arch("sm_9", JP_EINVAL, NULL);
    arch("sm_9000", JP_EINVAL, NULL);
    arch("sm_90x", JP_EINVAL, NULL);
    arch("native,sm_90", JP_EINVAL, NULL);
    arch("sm_90,all", JP_EINVAL, NULL);
    arch("-arch=sm_90;rm", JP_EINVAL, NULL);
    char small[8];
    assert_int_equal(ck_cuda_arch_flags("sm_90", small, sizeof small), JP_ERANGE);
}

/* ---- diagnostics ---- */

static void diag(const char *in, const char *want)
{
    struct jp_buf out;
    jp_buf_init(&out, 1 << 20);
    assert_int_equal(ck_cuda_diag(in, &out), 0);
    assert_string_equal(out.data ? out.data : "", want);
    jp_buf_dispose(&out);
}

static void test_ck_cuda_diag_edg_to_gcc(void **state)
{
    (void)state;
    diag("In[4](2): error: identifier \"y\" is undefined\n"
         "  __attribute__((global)) void k(float *x) { x[0] = y; }\n"
         "                                                    ^\n"
         "\n"
         "In[4](7): warning #177-D: variable \"z\" was declared but never referenced\n"
         "      int z;\n"
         "          ^\n"
         "\n"
         "Remark: The warnings can be suppressed with \"-diag-suppress <warning-number>\"\n"
         "\n"
         "1 error detected in the compilation of \"/tmp/cnote-x/cell4.cu\".\n",
         "In[4]:2: error: identifier \"y\" is undefined\n"
         "In[4]:7: warning: variable \"z\" was declared but never referenced\n"
         "Remark: The warnings can be suppressed with \"-diag-suppress <warning-number>\"\n");
    diag("In[2](1): catastrophic error: cannot open source file \"nope.h\"\n"
         "  #include <nope.h>\n"
         "                   ^\n",
         "In[2]:1: fatal error: cannot open source file \"nope.h\"\n");
    /* the host compiler's and nvcc's own lines pass unchanged */
    diag("In[3]:5:10: error: 'q' was not declared in this scope\n"
         "nvcc fatal   : Unsupported gpu architecture 'compute_20'\n",
         "In[3]:5:10: error: 'q' was not declared in this scope\n"
         "nvcc fatal   : Unsupported gpu architecture 'compute_20'\n");
    diag("", "");
}

/* ---- toolkit lookup ---- */

static void mkfile(const char *path, int exec)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(exec ? "#!/bin/sh\n" : "x", fp);
    fclose(fp);
    chmod(path, exec ? 0755 : 0644);
}

/* tmpdir/NAME with bin/nvcc, include/cuda_runtime.h and lib/libcudart.so.13 */
static void fake_toolkit(const char *name, char *root, size_t len)
{
    char p[PATH_MAX];
    snprintf(root, len, "%s/%s", tmpdir, name);
    const char *dirs[] = {"", "/bin", "/include", "/lib", NULL};
    for (int i = 0; dirs[i]; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof p, "%s/bin/nvcc", root);
    mkfile(p, 1);
    snprintf(p, sizeof p, "%s/include/cuda_runtime.h", root);
    mkfile(p, 0);
    snprintf(p, sizeof p, "%s/lib/libcudart.so.13", root);
    mkfile(p, 0);
}

static void clear_env(void)
{
    unsetenv("CNOTE_NVCC");
    unsetenv("CNOTE_CUDA_HOME");
    unsetenv("CUDA_HOME");
    unsetenv("CUDA_PATH");
}

static void test_ck_cuda_find_from_env(void **state)
{
    (void)state;
    char root[PATH_MAX], want[PATH_MAX + 32], path[PATH_MAX + 32];
    struct ck_cuda_tk tk;
    const char *old_path = getenv("PATH");
    char *saved = old_path ? strdup(old_path) : NULL;
    fake_toolkit("tk", root, sizeof root);
    clear_env();
    setenv("PATH", "/nonexistent", 1);

    setenv("CNOTE_CUDA_HOME", root, 1);
    assert_int_equal(ck_cuda_find(&tk), 0);
    snprintf(want, sizeof want, "%s/bin/nvcc", root);
    assert_string_equal(tk.nvcc, want);
    assert_string_equal(tk.home, root);
    snprintf(want, sizeof want, "%s/include", root);
    assert_string_equal(tk.include, want);
    snprintf(want, sizeof want, "%s/lib", root);
    assert_string_equal(tk.libdir, want);

    /* CNOTE_NVCC wins, and a missing one is not replaced by anything else */
    setenv("CNOTE_NVCC", "/nonexistent/nvcc", 1);
    assert_int_equal(ck_cuda_find(&tk), JP_ENOENT);
    assert_string_equal(tk.why, "CNOTE_NVCC=/nonexistent/nvcc is not an executable file");
    assert_string_equal(tk.nvcc, "");

    clear_env();
    setenv("CNOTE_CUDA_HOME", tmpdir, 1);
    assert_int_equal(ck_cuda_find(&tk), JP_ENOENT);
    snprintf(want, sizeof want, "CNOTE_CUDA_HOME=%s has no bin/nvcc", tmpdir);
    assert_string_equal(tk.why, want);

    /* CUDA_HOME, then PATH */
    clear_env();
    setenv("CUDA_HOME", root, 1);
    assert_int_equal(ck_cuda_find(&tk), 0);
    clear_env();
    snprintf(path, sizeof path, "/nonexistent:%s/bin", root);
    setenv("PATH", path, 1);
    assert_int_equal(ck_cuda_find(&tk), 0);
    assert_string_equal(tk.home, root);

    clear_env();
    setenv("PATH", "/nonexistent", 1);
    int rc = ck_cuda_find(&tk);
    if (access("/usr/local/cuda/bin/nvcc", X_OK) != 0) {
        assert_int_equal(rc, JP_ENOENT);
        assert_non_null(strstr(tk.why, "not in CNOTE_NVCC, CNOTE_CUDA_HOME"));
    }
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
}

static void test_ck_cuda_headers(void **state)
{
    (void)state;
    assert_true(ck_cuda_is_header("cuda_runtime.h"));
    assert_true(ck_cuda_is_header("cublas_v2.h"));
    assert_true(ck_cuda_is_header("cuda.h"));
    assert_true(ck_cuda_is_header("cufft.h"));
    assert_true(ck_cuda_is_header("some/dir/cuda_runtime_api.h"));
    assert_false(ck_cuda_is_header("cblas.h"));
    assert_false(ck_cuda_is_header("stdio.h"));
    assert_false(ck_cuda_is_header("cuda"));
    assert_false(ck_cuda_is_header("mycuda.h"));
    assert_true(ck_cuda_includes_cuda("int x;\n#  include <cublas_v2.h>\n"));
    assert_true(ck_cuda_includes_cuda("#include \"cuda_runtime.h\""));
    assert_false(ck_cuda_includes_cuda("#include <stdio.h>\n// #include <cuda.h>\n"));
    assert_false(ck_cuda_includes_cuda("#include <cuda.h"));
    assert_false(ck_cuda_includes_cuda(""));
}

static void test_ck_cuda_headers_imply_libraries(void **state)
{
    (void)state;
    struct ck_lib_need need[8];
    /* cuBLAS needs the runtime and cuBLASLt first; each library once */
    size_t n = ck_libs_implied("#include <cuda_runtime.h>\n#include <cublas_v2.h>\n", need, 8);
    assert_int_equal(n, 3);
    assert_string_equal(need[0].lib->name, "cudart");
    assert_string_equal(need[0].header, "cuda_runtime.h");
    assert_string_equal(need[1].lib->name, "cublasLt");
    assert_string_equal(need[2].lib->name, "cublas");
    assert_string_equal(need[2].header, "cublas_v2.h");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(need[i].lib->cuda, 1);
        assert_string_equal(need[i].lib->package, "nvidia-cuda-toolkit");
    }
    assert_string_equal(need[0].lib->files[0], "libcudart.so.13");
    assert_string_equal(need[0].lib->files[2], "libcudart.so.11");
    /* OpenBLAS is not a toolkit library */
    assert_int_equal(ck_libs_implied("#include <cblas.h>\n", need, 8), 1);
    assert_int_equal(need[0].lib->cuda, 0);
    /* found in the toolkit's directory first */
    char root[PATH_MAX], dir[PATH_MAX + 8], path[PATH_MAX + 64], want[PATH_MAX + 64];
    fake_toolkit("tk_libs", root, sizeof root);
    snprintf(dir, sizeof dir, "%s/lib", root);
    const char *dirs[] = {dir, NULL};
    ck_libs_implied("#include <cuda_runtime_api.h>\n", need, 8);
    assert_int_equal(ck_libs_locate(need[0].lib, dirs, path, sizeof path), 1);
    snprintf(want, sizeof want, "%s/libcudart.so.13", dir);
    assert_string_equal(path, want);
}

/* ---- commands ---- */

static void test_ck_cuda_argv(void **state)
{
    (void)state;
    struct ck_cuda_tk tk;
    struct ck_argv a;
    memset(&tk, 0, sizeof tk);
    snprintf(tk.nvcc, sizeof tk.nvcc, "/opt/cuda/bin/nvcc");
    assert_int_equal(
        ck_cuda_compile_argv(&tk, "-arch=sm_90", "/inc", " -G  -lineinfo ", "c.cu", "c.o", &a), 0);
    const char *want[] = {"/opt/cuda/bin/nvcc",
                          "-c",
                          "-std=c++17",
                          "-O2",
                          "-g",
                          "-Xcompiler=-fPIC",
                          "-I/inc",
                          "-arch=sm_90",
                          "-G",
                          "-lineinfo",
                          "-o",
                          "c.o",
                          "c.cu",
                          NULL};
    for (int i = 0; want[i]; i++)
        assert_string_equal(a.v[i], want[i]);
    assert_null(a.v[13]);
    assert_int_equal(ck_cuda_compile_argv(&tk, "", "/inc", NULL, "c.cu", "c.o", &a), 0);
    assert_int_equal(a.n, 10);
    assert_int_equal(ck_cuda_link_argv("gcc", "c.o", "c.so", &a), 0);
    const char *lw[] = {"gcc", "-shared", "-Wl,-Bsymbolic", "-o", "c.so", "c.o", "-lstdc++", NULL};
    for (int i = 0; lw[i]; i++)
        assert_string_equal(a.v[i], lw[i]);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ck_cuda_gen_exports_host_function),
        T(test_ck_cuda_gen_rerun_gets_new_label),
        T(test_ck_cuda_gen_private_functions),
        T(test_ck_cuda_gen_cuda_types_known_to_c_cells),
        T(test_ck_cuda_gen_extern_c_block),
        T(test_ck_cuda_gen_empty_params_are_void_for_c),
        T(test_ck_cuda_gen_main_is_called),
        T(test_ck_cuda_gen_sees_used_earlier_symbols),
        T(test_ck_cuda_gen_redeclared_earlier_symbols),
        T(test_ck_cuda_gen_unused_symbols_not_declared),
        T(test_ck_cuda_gen_c_cells_compile_against_exports),
        T(test_ck_cuda_gen_serial_and_line_directives),
        cmocka_unit_test(test_ck_cuda_arch_flags_forms),
        cmocka_unit_test(test_ck_cuda_arch_flags_rejects),
        cmocka_unit_test(test_ck_cuda_diag_edg_to_gcc),
        cmocka_unit_test(test_ck_cuda_find_from_env),
        cmocka_unit_test(test_ck_cuda_headers),
        cmocka_unit_test(test_ck_cuda_headers_imply_libraries),
        cmocka_unit_test(test_ck_cuda_argv),
    };
#undef T
    return cmocka_run_group_tests_name("ck_cuda", tests, group_setup, group_teardown);
}
